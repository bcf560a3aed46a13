-- A database at schema version 1 as mtsession 0.1 writes it: two sessions,
-- "default" (the "full" fixture) and "second" (the "small" fixture).
-- Kept forever: every later library version must open it (migrating it)
-- and load both sessions unchanged (tests/sqlite/sqlite_unit.c).
PRAGMA application_id = 1297371987;
PRAGMA user_version = 1;
BEGIN TRANSACTION;
CREATE TABLE sessions (name TEXT NOT NULL PRIMARY KEY, home_dc INTEGER NOT NULL DEFAULT 0, test_mode INTEGER NOT NULL DEFAULT 0, api_id INTEGER, user_id INTEGER, user_is_bot INTEGER NOT NULL DEFAULT 0, future_token BLOB, pts INTEGER NOT NULL DEFAULT 0, qts INTEGER NOT NULL DEFAULT 0, date INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
INSERT INTO sessions VALUES('default',2,1,12345,42,1,X'010203',2147483647,-1,1,0);
INSERT INTO sessions VALUES('second',2,0,NULL,NULL,0,NULL,100,5,1700000000,7);
CREATE TABLE dcs (session TEXT NOT NULL, dc_id INTEGER NOT NULL, flags INTEGER NOT NULL, family INTEGER NOT NULL, ip TEXT NOT NULL, port INTEGER NOT NULL, auth_key BLOB, server_salt INTEGER NOT NULL DEFAULT 0, time_offset INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (session, dc_id, flags, family)) WITHOUT ROWID;
INSERT INTO dcs VALUES('default',1,0,4,'149.154.175.53',80,NULL,-9223372036854775808,-2147483648);
INSERT INTO dcs VALUES('default',2,17,6,'2001:67c:4e8:f002::a',443,X'abababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababab',-1,2147483647);
INSERT INTO dcs VALUES('default',4,2,4,'149.154.167.91',443,NULL,0,0);
INSERT INTO dcs VALUES('second',2,0,4,'149.154.167.51',443,X'000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff',72623859790382856,-3);
CREATE TABLE channel_pts (session TEXT NOT NULL, channel_id INTEGER NOT NULL, pts INTEGER NOT NULL, PRIMARY KEY (session, channel_id)) WITHOUT ROWID;
INSERT INTO channel_pts VALUES('default',5,1);
INSERT INTO channel_pts VALUES('default',9007199254740993,2147483647);
INSERT INTO channel_pts VALUES('second',1234567890,17);
CREATE TABLE peers (session TEXT NOT NULL, kind INTEGER NOT NULL, id INTEGER NOT NULL, access_hash INTEGER NOT NULL DEFAULT 0, channel_kind INTEGER NOT NULL DEFAULT 0, community INTEGER NOT NULL DEFAULT 0, bot INTEGER NOT NULL DEFAULT 0, username TEXT, phone TEXT, PRIMARY KEY (session, kind, id)) WITHOUT ROWID;
INSERT INTO peers VALUES('default',0,42,-9223372036854775808,0,0,1,'bot_ü','+15551234567');
INSERT INTO peers VALUES('default',1,100,0,0,0,0,NULL,NULL);
INSERT INTO peers VALUES('default',2,7,1,1,0,0,NULL,NULL);
INSERT INTO peers VALUES('default',2,100,9223372036854775807,2,1,0,'chan',NULL);
INSERT INTO peers VALUES('second',0,777000,-5612345678901234567,0,0,0,'telegram',NULL);
CREATE TABLE min_peers (session TEXT NOT NULL, user_id INTEGER NOT NULL, peer_id INTEGER NOT NULL, msg_id INTEGER NOT NULL, PRIMARY KEY (session, user_id)) WITHOUT ROWID;
INSERT INTO min_peers VALUES('default',42,-1001234567890,12345);
INSERT INTO min_peers VALUES('default',43,100,-1);
COMMIT;
