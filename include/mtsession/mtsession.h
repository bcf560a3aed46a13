/*
 * mtsession/mtsession.h - umbrella header: the whole public API.
 */
#ifndef MTSESSION_MTSESSION_H
#define MTSESSION_MTSESSION_H

#include "common.h"
#include <mtsession/version.h>
#include "errors.h"
#include "session.h"
#include "codec.h"
#include "seal.h"
#include "convert.h"
#include "storage.h"
#include "lease.h"
#include "backends.h"

#endif /* MTSESSION_MTSESSION_H */
