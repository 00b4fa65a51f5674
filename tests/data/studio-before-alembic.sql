-- A studio.db made by the version before Alembic (PRAGMA user_version 7): the upgrade test loads it.
PRAGMA user_version = 7;
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE datasets (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
INSERT INTO datasets VALUES(1,'Elle','2026-11-21 22:39:22','2026-11-21 22:39:22');
INSERT INTO datasets VALUES(2,'Scratch','2026-11-21 22:39:22','2026-11-21 22:39:22');
CREATE TABLE examples (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'draft',
            tags TEXT NOT NULL DEFAULT '',
            note TEXT NOT NULL DEFAULT ''
        );
INSERT INTO examples VALUES(1,1,1,'{"messages": [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about element 1"}, {"role": "assistant", "content": "A limerick 1"}]}','approved','sample','checked');
INSERT INTO examples VALUES(2,1,2,'{"messages": [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about element 2"}, {"role": "assistant", "content": "A limerick 2"}]}','draft','sample','');
INSERT INTO examples VALUES(3,1,3,'{"messages": [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about element 3"}, {"role": "assistant", "content": "A limerick 3"}]}','approved','sample','');
INSERT INTO examples VALUES(4,1,4,'{"messages": [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about element 4"}, {"role": "assistant", "content": "A limerick 4"}]}','draft','sample','');
INSERT INTO examples VALUES(6,2,1,'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "there"}]}','draft','','');
CREATE TABLE versions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            summary TEXT NOT NULL,
            n_examples INTEGER NOT NULL,
            undoes INTEGER
        );
INSERT INTO versions VALUES(1,1,'2026-11-21 22:39:22','Created',0,NULL);
INSERT INTO versions VALUES(2,1,'2026-11-21 22:39:22','Added 5 examples',5,NULL);
INSERT INTO versions VALUES(3,1,'2026-11-21 22:39:22','Edited 1 example',5,NULL);
INSERT INTO versions VALUES(4,1,'2026-11-21 22:39:22','Deleted 1 example',4,NULL);
INSERT INTO versions VALUES(5,1,'2026-11-21 22:39:22','Undone: Deleted 1 example',5,4);
INSERT INTO versions VALUES(6,1,'2026-11-21 22:39:22','Deleted 1 example',4,NULL);
INSERT INTO versions VALUES(7,2,'2026-11-21 22:39:22','Created',0,NULL);
INSERT INTO versions VALUES(8,2,'2026-11-21 22:39:22','Added 1 example',1,NULL);
CREATE TABLE changes (
            version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
            example_id INTEGER NOT NULL,
            before TEXT,
            after TEXT
        );
INSERT INTO changes VALUES(2,1,NULL,'{"position": 1, "example": {"messages": [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about element 1"}, {"role": "assistant", "content": "A limerick 1"}]}, "status": "approved", "tags": "sample", "note": ""}');
INSERT INTO changes VALUES(2,2,NULL,'{"position": 2, "example": {"messages": [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about element 2"}, {"role": "assistant", "content": "A limerick 2"}]}, "status": "draft", "tags": "sample", "note": ""}');
INSERT INTO changes VALUES(2,3,NULL,'{"position": 3, "example": {"messages": [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about element 3"}, {"role": "assistant", "content": "A limerick 3"}]}, "status": "approved", "tags": "sample", "note": ""}');
INSERT INTO changes VALUES(2,4,NULL,'{"position": 4, "example": {"messages": [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about element 4"}, {"role": "assistant", "content": "A limerick 4"}]}, "status": "draft", "tags": "sample", "note": ""}');
INSERT INTO changes VALUES(2,5,NULL,'{"position": 5, "example": {"messages": [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about element 5"}, {"role": "assistant", "content": "A limerick 5"}]}, "status": "approved", "tags": "sample", "note": ""}');
INSERT INTO changes VALUES(3,1,'{"position": 1, "example": {"messages": [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about element 1"}, {"role": "assistant", "content": "A limerick 1"}]}, "status": "approved", "tags": "sample", "note": ""}','{"position": 1, "example": {"messages": [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about element 1"}, {"role": "assistant", "content": "A limerick 1"}]}, "status": "approved", "tags": "sample", "note": "checked"}');
INSERT INTO changes VALUES(4,2,'{"position": 2, "example": {"messages": [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about element 2"}, {"role": "assistant", "content": "A limerick 2"}]}, "status": "draft", "tags": "sample", "note": ""}',NULL);
INSERT INTO changes VALUES(5,2,NULL,'{"position": 2, "example": {"messages": [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about element 2"}, {"role": "assistant", "content": "A limerick 2"}]}, "status": "draft", "tags": "sample", "note": ""}');
INSERT INTO changes VALUES(6,5,'{"position": 5, "example": {"messages": [{"role": "system", "content": "You are Elle."}, {"role": "user", "content": "Tell me about element 5"}, {"role": "assistant", "content": "A limerick 5"}]}, "status": "approved", "tags": "sample", "note": ""}',NULL);
INSERT INTO changes VALUES(8,6,NULL,'{"position": 1, "example": {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "there"}]}, "status": "draft", "tags": "", "note": ""}');
CREATE TABLE price_overrides (
            model TEXT NOT NULL,
            field TEXT NOT NULL,
            value REAL NOT NULL,
            PRIMARY KEY (model, field)
        );
INSERT INTO price_overrides VALUES('gpt-4.1-mini-2025-04-14','training',4.5);
CREATE TABLE job_provenance (
            provider TEXT NOT NULL,
            job_id TEXT NOT NULL,
            dataset_id INTEGER NOT NULL,
            dataset_name TEXT NOT NULL,
            version_id INTEGER NOT NULL,
            n_examples INTEGER NOT NULL,
            training_file TEXT NOT NULL,
            validation_file TEXT,
            base_model TEXT NOT NULL,
            fine_tuned_model TEXT,
            created_at TEXT NOT NULL, training_rows TEXT, validation_rows TEXT, estimated_cost_usd REAL,
            PRIMARY KEY (provider, job_id)
        );
INSERT INTO job_provenance VALUES('local','ftjob-1',1,'Elle',1,4,'file-1',NULL,'smollm2','ft:smollm2:elle','2026-11-21 22:39:22','[1, 3]','[]',NULL);
CREATE TABLE eval_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            provider TEXT NOT NULL,
            prompt_source TEXT NOT NULL,
            settings TEXT NOT NULL,
            contenders TEXT NOT NULL
        );
INSERT INTO eval_runs VALUES(1,'Elle vs base','2026-11-21 22:39:22','local','dataset','{"temperature": 0.0}','[{"label": "base", "model": "smollm2"}, {"label": "tuned", "model": "ft:smollm2:elle"}]');
CREATE TABLE eval_items (
            run_id INTEGER NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            messages TEXT NOT NULL, source TEXT,
            PRIMARY KEY (run_id, position)
        );
INSERT INTO eval_items VALUES(1,1,'[{"role": "user", "content": "Tell me about iron"}]','row:1');
INSERT INTO eval_items VALUES(1,2,'[{"role": "user", "content": "Tell me about gold"}]','row:2');
CREATE TABLE eval_answers (
            run_id INTEGER NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            contender TEXT NOT NULL,
            text TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            latency_s REAL NOT NULL,
            cost_usd REAL NOT NULL, passages TEXT NOT NULL DEFAULT '[]',
            PRIMARY KEY (run_id, position, contender)
        );
INSERT INTO eval_answers VALUES(1,1,'base','base answer 1',10,20,0.5,0.0,'[]');
INSERT INTO eval_answers VALUES(1,1,'tuned','tuned answer 1',10,20,0.5,0.0,'[]');
INSERT INTO eval_answers VALUES(1,2,'base','base answer 2',10,20,0.5,0.0,'[]');
INSERT INTO eval_answers VALUES(1,2,'tuned','tuned answer 2',10,20,0.5,0.0,'[]');
CREATE TABLE ratings (
            run_id INTEGER NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
            reviewer TEXT NOT NULL COLLATE NOCASE,
            position INTEGER NOT NULL,
            left_contender TEXT NOT NULL,
            right_contender TEXT NOT NULL,
            winner TEXT NOT NULL,
            scores TEXT NOT NULL,
            note TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (run_id, reviewer, position)
        );
INSERT INTO ratings VALUES(1,'Ann',1,'base','tuned','tuned','{"base": [2], "tuned": [4]}','better','2026-11-21 22:39:22');
INSERT INTO ratings VALUES(1,'Bob',1,'tuned','base','tuned','{"base": [3], "tuned": [5]}','','2026-11-21 22:39:22');
CREATE TABLE repeat_ratings (
            run_id INTEGER NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
            reviewer TEXT NOT NULL COLLATE NOCASE,
            position INTEGER NOT NULL,
            left_contender TEXT NOT NULL,
            right_contender TEXT NOT NULL,
            winner TEXT NOT NULL,
            scores TEXT NOT NULL,
            note TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (run_id, reviewer, position)
        );
INSERT INTO repeat_ratings VALUES(1,'Ann',1,'tuned','base','tuned','{"base": [2], "tuned": [4]}','','2026-11-21 22:39:22');
CREATE TABLE knowledge_sources (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
INSERT INTO knowledge_sources VALUES(1,'Elements','2026-11-21 22:39:22','2026-11-21 22:39:22');
CREATE TABLE knowledge_versions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source_id INTEGER NOT NULL REFERENCES knowledge_sources(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            summary TEXT NOT NULL
        );
INSERT INTO knowledge_versions VALUES(1,1,'2026-11-21 22:39:22','Created');
INSERT INTO knowledge_versions VALUES(2,1,'2026-11-21 22:39:22','Added elements.csv (2 passages)');
CREATE TABLE knowledge_passages (
            version_id INTEGER NOT NULL REFERENCES knowledge_versions(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            file TEXT NOT NULL,
            origin TEXT NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (version_id, position)
        );
INSERT INTO knowledge_passages VALUES(2,0,'elements.csv','row 1','Iron, Fe, 26');
INSERT INTO knowledge_passages VALUES(2,1,'elements.csv','row 2','Gold, Au, 79');
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('datasets',2);
INSERT INTO sqlite_sequence VALUES('versions',8);
INSERT INTO sqlite_sequence VALUES('examples',6);
INSERT INTO sqlite_sequence VALUES('eval_runs',1);
INSERT INTO sqlite_sequence VALUES('knowledge_sources',1);
INSERT INTO sqlite_sequence VALUES('knowledge_versions',2);
CREATE INDEX examples_by_dataset ON examples(dataset_id, position);
CREATE INDEX versions_by_dataset ON versions(dataset_id, id);
CREATE INDEX changes_by_version ON changes(version_id);
COMMIT;
