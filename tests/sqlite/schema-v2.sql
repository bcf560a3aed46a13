-- A database at schema version 2 as mtsession 0.1 writes it: "default"
-- (the "full" fixture, in clear), "sealed" (the "small" fixture with the
-- future auth token "tok", sealed with the raw key of 32 bytes 0x11) and
-- "passphrase" (the same, sealed with the passphrase "golden", Argon2id
-- opslimit 1, memlimit 8 KiB).
-- Kept forever: every later library version must open it (migrating it)
-- and load all three sessions unchanged (tests/sqlite/sqlite_sealed.c).
PRAGMA application_id = 1297371987;
PRAGMA user_version = 2;
BEGIN TRANSACTION;
CREATE TABLE sessions (name TEXT NOT NULL PRIMARY KEY, home_dc INTEGER NOT NULL DEFAULT 0, test_mode INTEGER NOT NULL DEFAULT 0, api_id INTEGER, user_id INTEGER, user_is_bot INTEGER NOT NULL DEFAULT 0, future_token BLOB, pts INTEGER NOT NULL DEFAULT 0, qts INTEGER NOT NULL DEFAULT 0, date INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL DEFAULT 0, rev INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
INSERT INTO sessions VALUES('default',2,1,12345,42,1,X'010203',2147483647,-1,1,0,3734572682012721241);
INSERT INTO sessions VALUES('passphrase',2,0,NULL,NULL,0,X'013960b277da11a3ace60f772af3a8e24b3ed69185a73ae0ec3272d8c58ab2945c042b543806d00d552e6b6b',100,5,1700000000,7,5049842812068116832);
INSERT INTO sessions VALUES('sealed',2,0,NULL,NULL,0,X'0145d6433c4a520f6f790c74b265f936647fa444c7ebc43574ae52c7580f67515a69e08a13bf0ff6b3080502',100,5,1700000000,7,3232770251998203415);
CREATE TABLE dcs (session TEXT NOT NULL, dc_id INTEGER NOT NULL, flags INTEGER NOT NULL, family INTEGER NOT NULL, ip TEXT NOT NULL, port INTEGER NOT NULL, auth_key BLOB, server_salt INTEGER NOT NULL DEFAULT 0, time_offset INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (session, dc_id, flags, family)) WITHOUT ROWID;
INSERT INTO dcs VALUES('default',1,0,4,'149.154.175.53',80,NULL,-9223372036854775808,-2147483648);
INSERT INTO dcs VALUES('default',2,17,6,'2001:67c:4e8:f002::a',443,X'abababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababab',-1,2147483647);
INSERT INTO dcs VALUES('default',4,2,4,'149.154.167.91',443,NULL,0,0);
INSERT INTO dcs VALUES('passphrase',2,0,4,'149.154.167.51',443,X'0194d9ea0982904dd5eb166f8fb221a63aeacc7c9dac6738f1c016d89ec9f901e1f68ecbf63e75456639bf6ab8277b187476b425026920cdaeddf685257326ac16b8213072ea9f474207739de0ab82112e694216902a1917131f887a7cf928584954f68c7bf9498759e254fbcaac285f7a6a63638f274a8fbe8843921b453a0200c3658d4d60f1f00cd2b41e0f6901a68677cbfd95af0b4bfd9cd847e8c4c99040e144a1ddd699d19cf805377f0b79af1a14c26bfc82284a17e5c6a2ab104c46e7531eda1cf1c028f2285f50ca26963ba06e8af847f6e833b14fc96c7eefa9f6b33405960f6bdeadf3549e80be4c41bf50c05e3debf091940e2239db5036f5c5c4ef89d2bd78380882dcd46044b58f8ef8111c062de00223f2efb6b71d5226a17d8fc63fa82a6e5561',X'0132d92886737ebfae743bab4e8bd0ae645412fadef5c6de9521c5b6d5c7933d0d30c17f664a36ebd1827c5e23923ac312',-3);
INSERT INTO dcs VALUES('sealed',2,0,4,'149.154.167.51',443,X'01b3f912d52f9ab60d3382b04b63d7b873dd97c81c414bd5588130a41cffc8460fc848f6bbd030687e393176d57f749ec7a5d4e977e6990575067cb2aac659707001c110ec96886bf648cdf7959ffd27d60f3f8af8d7faea9e271ae08e79f2ba47e312d17255f4af797379f4d0bbfcf6cabab9e06dabdfdddd09e351bb1ae6e42301adcc1977d61cd1b64da3fe3cc7a3ff8e02dbf2de84e4459f5efbd5b7617c394a096a0a6178d3cb6bdb70a5b483e09dea12a0e2a933eb094355f18ed47e6d2eb6b97af943d3f52bf7c700b2323510cecadf7ed2898ae30ec037403d8c5d7950fc18a71a5bde9379e2faa47071b761ad4c0968a7b04a5a2f39488b95f509981f3f1709e55c9f0e9a5cdcc08260b11c11c9bf5096afb8202f1a311e44fc026ebeb02521e7916975b8',X'010dd9aace30d67fc6e263c5d6d48a68087aea61fe8866f38064b688e098490815d7773f2fe7d1456d6558453b48511095',-3);
CREATE TABLE channel_pts (session TEXT NOT NULL, channel_id INTEGER NOT NULL, pts INTEGER NOT NULL, PRIMARY KEY (session, channel_id)) WITHOUT ROWID;
INSERT INTO channel_pts VALUES('default',5,1);
INSERT INTO channel_pts VALUES('default',9007199254740993,2147483647);
INSERT INTO channel_pts VALUES('passphrase',1234567890,17);
INSERT INTO channel_pts VALUES('sealed',1234567890,17);
CREATE TABLE peers (session TEXT NOT NULL, kind INTEGER NOT NULL, id INTEGER NOT NULL, access_hash INTEGER NOT NULL DEFAULT 0, channel_kind INTEGER NOT NULL DEFAULT 0, community INTEGER NOT NULL DEFAULT 0, bot INTEGER NOT NULL DEFAULT 0, username TEXT, phone TEXT, PRIMARY KEY (session, kind, id)) WITHOUT ROWID;
INSERT INTO peers VALUES('default',0,42,-9223372036854775808,0,0,1,'bot_ü','+15551234567');
INSERT INTO peers VALUES('default',1,100,0,0,0,0,NULL,NULL);
INSERT INTO peers VALUES('default',2,7,1,1,0,0,NULL,NULL);
INSERT INTO peers VALUES('default',2,100,9223372036854775807,2,1,0,'chan',NULL);
INSERT INTO peers VALUES('passphrase',0,777000,-5612345678901234567,0,0,0,'telegram',NULL);
INSERT INTO peers VALUES('sealed',0,777000,-5612345678901234567,0,0,0,'telegram',NULL);
CREATE TABLE min_peers (session TEXT NOT NULL, user_id INTEGER NOT NULL, peer_id INTEGER NOT NULL, msg_id INTEGER NOT NULL, PRIMARY KEY (session, user_id)) WITHOUT ROWID;
INSERT INTO min_peers VALUES('default',42,-1001234567890,12345);
INSERT INTO min_peers VALUES('default',43,100,-1);
CREATE TABLE seal (session TEXT NOT NULL PRIMARY KEY, kdf INTEGER NOT NULL, opslimit INTEGER NOT NULL DEFAULT 0, memlimit INTEGER NOT NULL DEFAULT 0, salt BLOB, check_value BLOB NOT NULL) WITHOUT ROWID;
INSERT INTO seal VALUES('passphrase',1,1,8,X'5a9110d0a2e6adae256241280eebb1d8',X'01f2d25793eb819c13bff6188df845bfc588c0285a8a8546eae06de70a20ea0467a58918492b8ef1a1924eb7c6c4b34603c57c145ef41bac428826e6c7478a');
INSERT INTO seal VALUES('sealed',0,0,0,NULL,X'0109d8b870ec0fcf543d4616b731d61fc68583d7ef77b98f61cc45646d6dc248751929331b118a14c0de30bf8e8af588547844355395a06655b49f7e617f9b');
COMMIT;
