/*
 * delta_int.h - private to the Delta module (delta_log.c, delta_source.c, delta_write.c,
 * delta_ckpt.c): the snapshot's body, the file table, parsed commits.
 */
#ifndef TB_FORMAT_DELTA_INT_H
#define TB_FORMAT_DELTA_INT_H

#include <jansson.h>

#include "format/delta.h"

/* The default checkpoint interval (Delta's delta.checkpointInterval default). */
#define TB_DELTA_DEFAULT_CKPT_INTERVAL 10
/* Tombstones younger than this are kept in checkpoints (delta.deletedFileRetentionDuration
 * default: one week), in ms. */
#define TB_DELTA_TOMBSTONE_RETENTION_MS (7LL * 24 * 3600 * 1000)
/* Bound on parts of a multi-part checkpoint and on listed log entries. */
#define TB_DELTA_MAX_CKPT_PARTS 100000

/*
 * One add or remove entry: a single allocation holding the strings after the struct.
 * For a remove, size < 0 when the action did not carry it.
 */
typedef struct tb_delta_fentry {
    char *path;     /* URI-decoded: the key of the file table */
    char *raw_path; /* as written in the log (re-emitted verbatim) */
    char *stats;    /* NULL if none */
    int64_t size;
    int64_t mod_time;
    int64_t del_ts; /* remove: deletionTimestamp (0 if absent) */
    uint32_t n_pv;
    char **pkeys;
    char **pvals; /* NULL entries = null */
    bool data_change;
    bool has_pv; /* partitionValues present (always for add) */
} tb_delta_fentry;

/* Allocate an entry copying the strings (pvals[i] may be NULL). NULL on OOM. */
tb_delta_fentry *tb_delta_fentry_new(const char *raw_path, const char *path, const char *stats,
                                     uint32_t n_pv, const char *const *pkeys,
                                     const char *const *pvals);

/* Files by path, remembering insertion order. Entries are owned by the table. */
typedef struct tb_delta_ftab {
    tb_delta_fentry **items; /* insertion order; NULL = removed */
    size_t n, cap;
    size_t live;
    uint32_t *slots; /* open addressing: 0 empty, UINT32_MAX deleted, else index + 1 */
    size_t n_slots;  /* power of two */
    size_t used;     /* slots not empty (live + deleted markers) */
} tb_delta_ftab;

/* Insert e (replacing and freeing an entry with the same path). On failure e is freed. */
tb_rc tb_delta_ftab_put(tb_delta_ftab *tab, tb_delta_fentry *e);
/* Remove the entry with this path; returns it (caller owns) or NULL. */
tb_delta_fentry *tb_delta_ftab_take(tb_delta_ftab *tab, const char *path);
tb_delta_fentry *tb_delta_ftab_get(const tb_delta_ftab *tab, const char *path);
/* Drop the holes left by removals (insertion order kept). */
tb_rc tb_delta_ftab_compact(tb_delta_ftab *tab);
void tb_delta_ftab_clear(tb_delta_ftab *tab);

typedef struct tb_delta_txn {
    char *app_id;
    int64_t version;
    int64_t last_updated; /* -1 if absent */
} tb_delta_txn;

struct tb_delta_snapshot {
    char *table_path; /* without trailing '/' */
    char *log_path;   /* table_path + "/_delta_log" */
    int64_t version;  /* -1 until something was applied */
    json_t *protocol; /* body of the latest protocol action (owned ref) */
    json_t *metadata; /* body of the latest metaData action (owned ref) */
    int64_t min_reader;
    int64_t min_writer;
    tb_schema *schema;  /* supported columns */
    char **delta_types; /* per schema field: Delta type name ("integer", ...) */
    char **part_cols;   /* metaData.partitionColumns */
    uint32_t n_part;
    tb_delta_ftab live;
    tb_delta_ftab tombs;
    tb_delta_txn *txns;
    size_t n_txn, cap_txn;
    int64_t ckpt_version; /* checkpoint the snapshot was loaded from, -1 if none */
};

/* Parsed action kinds. */
enum {
    TB_DA_ADD = 1,
    TB_DA_REMOVE,
    TB_DA_METADATA,
    TB_DA_PROTOCOL,
    TB_DA_TXN,
    TB_DA_COMMITINFO,
    TB_DA_OTHER
};

typedef struct tb_delta_action {
    int kind;
    uint32_t line;         /* 1-based line in the commit file */
    json_t *body;          /* borrowed from the commit's roots */
    tb_delta_fentry *file; /* add/remove (owned until applied) */
    const char *app_id;    /* txn (points into body) */
    int64_t txn_version;
    int64_t last_updated;
} tb_delta_action;

struct tb_delta_commit {
    char *name;
    json_t **roots;
    uint32_t n_roots, cap_roots;
    tb_delta_action *acts;
    uint32_t n_acts, cap_acts;
};

/* Apply a parsed commit (its entries move into the snapshot). `version` is recorded. */
tb_rc tb_delta_apply(tb_delta_snapshot *snap, tb_delta_commit *commit, int64_t version,
                     tb_err *err);
/* Apply one metaData / protocol body (shared by the JSON and checkpoint paths). */
tb_rc tb_delta_set_metadata(tb_delta_snapshot *snap, json_t *body, const char *where, tb_err *err);
tb_rc tb_delta_set_protocol(tb_delta_snapshot *snap, json_t *body, const char *where, tb_err *err);
tb_rc tb_delta_set_txn(tb_delta_snapshot *snap, const char *app_id, int64_t version,
                       int64_t last_updated);

/*
 * Bring snap up to the latest version by applying the JSON commits after it.
 * out_agg (may be NULL) accumulates the summaries of the commits applied;
 * *out_all_blind is false if any of them is not a blind append.
 */
tb_rc tb_delta_refresh(tb_delta_snapshot *snap, tb_delta_commit_summary *out_agg, tb_err *err);
/* Check that the snapshot's protocol allows reading (and writing when for_write). */
tb_rc tb_delta_check_protocol(const tb_delta_snapshot *snap, bool for_write, tb_err *err);
/* A new empty snapshot for table_path (version -1). */
tb_rc tb_delta_snapshot_empty(const char *table_path, tb_delta_snapshot **out, tb_err *err);

/* Percent-decode a log path into a heap string (*out, tb_free). TB_E_CORRUPT on a bad
 * escape (or an escaped NUL), TB_E_NOMEM. No message is set. */
tb_rc tb_delta_path_decode(const char *raw, char **out);

/* Read a checkpoint (parts files) into snap. TB_E_UNSUPPORTED when it cannot be decoded.
 * Implemented in delta_ckpt.c. */
tb_rc tb_delta_read_checkpoint(tb_delta_snapshot *snap, int64_t version, uint32_t parts,
                               tb_err *err);

/* Test hook: called by the writer just before it tries to take `version` (tests use it to
 * lose commit races deterministically). NULL in production. */
extern void (*tb_delta_before_commit_hook)(const char *table_path, int64_t version);

/* tb_delta_checkpoint, with fsync of the files optional (the writer's opts.sync). */
tb_rc tb_delta_checkpoint_sync(const tb_delta_snapshot *snap, bool sync, tb_err *err);

/* Random v4 UUID as 36 chars + NUL. */
void tb_delta_uuid(char out[37]);

#endif /* TB_FORMAT_DELTA_INT_H */
