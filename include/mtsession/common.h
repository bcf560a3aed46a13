/*
 * mtsession/common.h - export macros, C++ guards and the library's version.
 *
 * Every public header includes this one. Public headers are C99 and also
 * compile as C++.
 */
#ifndef MTSESSION_COMMON_H
#define MTSESSION_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define MTS_BEGIN_DECL extern "C" {
#define MTS_END_DECL }
#else
#define MTS_BEGIN_DECL
#define MTS_END_DECL
#endif

#if defined(MTS_STATIC)
#define MTS_API
#elif defined(__GNUC__) || defined(__clang__)
#define MTS_API __attribute__((visibility("default")))
#else
#define MTS_API
#endif

#if defined(__GNUC__) || defined(__clang__)
#define MTS_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define MTS_WARN_UNUSED
#endif

#endif /* MTSESSION_COMMON_H */
