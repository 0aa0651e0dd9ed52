/*
 * delta_ckpt.c - Delta checkpoints: reading `%020d.checkpoint[.part.parts].parquet`
 * files into a snapshot and writing them (with `_last_checkpoint`).
 *
 * (stub: filled in once the Parquet reader/writer land)
 */
#include "format/delta_int.h"

tb_rc tb_delta_read_checkpoint(tb_delta_snapshot *snap, int64_t version, uint32_t parts,
                               tb_err *err)
{
    (void)snap;
    (void)parts;
    return TB_ERRF(err, TB_E_UNSUPPORTED, "checkpoint %lld: reading not supported yet",
                   (long long)version);
}

tb_rc tb_delta_checkpoint(const tb_delta_snapshot *snap, tb_err *err)
{
    (void)snap;
    return TB_ERRF(err, TB_E_UNSUPPORTED, "delta: checkpoint writing not supported yet");
}
