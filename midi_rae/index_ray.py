"""`midi-rae index ... --ray [ADDRESS]`: the same index, built on a Ray cluster with Ray Data.

Files are read and parsed by Ray tasks (`map`), windows are encoded in a pool of actors (`map_batches`, one
model per actor, on a GPU where the cluster has one), and the driver commits what comes back to the same
LanceDB store with the same writer as a local run, so incremental updates, resumption and the stored numbers
are those of `midi_rae.index.build_index`. Needs the `ray` extra: pip install 'midi-rae-explorer[ray]'.

The driver hashes the files to plan the update, so the sources must be readable from the driver and the workers
alike (a shared file system, or a single machine with `--ray local`).
"""
from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .index import (BATCH, FLUSH_WINDOWS, BuildReport, WindowEncoder, _Pending, _Writer, checkpoint_key,
                    checkpoint_label, default_patch_levels, discover, failed_row, finish_update, index_lock,
                    open_for_update, prepare_piece, recorded, settle_counts, _parse_job)

__all__ = ["build_index_ray"]


def _parse_row(row: dict) -> dict:
    """Ray task: read and parse one file; windows cut here too, so actors only encode."""
    res = _parse_job((row["path"], int(row["spb"]), bool(row["flip"]), None, bool(row.get("pedal"))))
    out = {"path": row["path"], "error": res.get("error"), "payload": b""}
    if "error" not in res:
        p = prepare_piece(res, row["collection"], int(row["width"]), row["out"])
        # each distinct window once, and which of them each window is (the writer spreads the results back)
        out["payload"] = pickle.dumps((p.row, p.x.numpy().astype(np.uint8), p.starts, p.stats, p.inverse))
    else:
        out["payload"] = pickle.dumps(failed_row(res, row["collection"], row["out"]))
    return out


class _EncodeActor:
    """One model per actor; encodes the windows of a batch of pieces together."""

    def __init__(self, checkpoint, decoder, patch_levels, threshold, batch_size):
        import torch

        from . import threads
        from .checkpoint import load_model

        threads.configure()
        device = "cuda" if torch.cuda.is_available() else None
        self.bundle = load_model(checkpoint, decoder=decoder, device=device)
        self.encoder = WindowEncoder(self.bundle, patch_levels, threshold, batch_size)
        self.batch = batch_size

    def __call__(self, batch: dict) -> dict:
        import torch

        pieces, xs = [], []
        for err, payload in zip(batch["error"], batch["payload"]):
            if err is not None and err == err and err != "":
                pieces.append(("failed", payload))
                continue
            row, x, starts, stats, inverse = pickle.loads(payload)
            pieces.append(("ok", (row, starts, stats, len(x), inverse)))
            xs.append(x)
        out = []
        if xs:
            x = torch.from_numpy(np.concatenate(xs).astype(np.float32))
            parts = [self.encoder(x[i:i + self.batch]) for i in range(0, len(x), self.batch)]
            r = {k: ([np.concatenate([p[k][j] for p in parts]) for j in range(len(parts[0][k]))]
                     if isinstance(parts[0][k], list) else np.concatenate([p[k] for p in parts])) for k in parts[0]}
        i = 0
        for kind, item in pieces:
            if kind == "failed":
                out.append(item)
                continue
            row, starts, stats, n, inverse = item
            res = {k: ([a[i:i + n] for a in v] if isinstance(v, list) else v[i:i + n]) for k, v in r.items()}
            out.append(pickle.dumps(("ok", row, starts, stats, res, inverse)))
            i += n
        return {"payload": out}


def _init(address: str):
    import ray

    if ray.is_initialized():
        return
    if address in ("local", None):
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)


def build_index_ray(sources: Sequence[str | Path], out: str | Path, checkpoint: Optional[str] = None,
                    decoder: Optional[str] = None, *, address: str = "auto",
                    patch_levels: Optional[Sequence[int]] = None, flip_png: bool = False, rebuild: bool = False,
                    sustain_pedal: bool = False,
                    batch_size: int = BATCH, encoders: Optional[int] = None, pieces_per_call: int = 8,
                    log: Callable[[str], None] = print) -> BuildReport:
    """Build or update the index at `out` on Ray (address 'auto' = a running cluster, 'local' = start one here)."""
    import ray

    from .checkpoint import load_model

    t_start = time.time()
    files = [Path(f) for f in sources if Path(f).is_file()] if all(Path(f).is_file() for f in sources) \
        else discover(sources)[0]
    report = BuildReport(out=str(out), files=len(files))
    bundle = load_model(checkpoint, decoder=decoder)
    cfg = bundle.model_config
    spb = int(bundle.config.get("steps_per_beat") or 4)
    ckey = checkpoint_key(bundle, checkpoint, decoder)
    plevels = list(patch_levels) if patch_levels is not None else default_patch_levels(cfg)
    with index_lock(out):  # one run at a time writes to a folder (see midi_rae.index.index_lock)
        index, plan = open_for_update(out, bundle, ckey, checkpoint_label(checkpoint), plevels, spb, rebuild,
                                      files, log=log, decoder=checkpoint_label(decoder, None), flip_png=flip_png,
                                      asked_levels=patch_levels, sustain_pedal=sustain_pedal)
        report.removed = len(plan.remove) - plan.updated
        report.unchanged = plan.unchanged
        if not plan.todo:
            settle_counts(report, plan)
            if plan.remove or index.meta.get("updated") is None or not recorded(index):
                finish_update(index, report, log=log)
            report.seconds = round(time.time() - t_start, 2)
            return report

        _init(address)
        gpus = ray.cluster_resources().get("GPU", 0)
        n_enc = encoders or max(1, int(gpus) if gpus else min(2, int(ray.cluster_resources().get("CPU", 1)) // 2 or 1))
        rows = [{"path": str(p), "collection": c, "spb": spb, "flip": flip_png, "pedal": sustain_pedal,
                 "width": cfg.window_steps,
                 "out": str(out)} for p, c in plan.todo]
        # parse tasks ask for less CPU than an encoder actor, so Ray Data keeps them a separate task stage
        ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), 64)).map(_parse_row, num_cpus=0.5)
        ds = ds.map_batches(_EncodeActor, fn_constructor_args=(checkpoint, decoder, index.patch_levels,
                                                               index.meta["threshold"], batch_size),
                            batch_size=pieces_per_call, concurrency=n_enc, num_gpus=1 if gpus else 0,
                            batch_format="default")
        writer = _Writer(index, cfg.num_levels, index.patch_levels, bundle.decoder is not None)
        t0, encoded = time.perf_counter(), 0
        for row in ds.iter_rows():
            item = pickle.loads(row["payload"])
            if isinstance(item, dict):  # a file that could not be read
                report.failed.append((item["path"], item["error"]))
                writer.piece(item)
                continue
            _, prow, starts, stats, res, inverse = item
            p = _Pending(prow, None, starts, stats, results=[(0, res)], done=len(starts), inverse=inverse)
            writer.piece(prow, p)
            encoded += len(starts) if inverse is None else int(inverse.max()) + 1
            if writer.n_windows >= FLUSH_WINDOWS:
                report.windows += writer.n_windows
                writer.flush()
        report.windows += writer.n_windows
        writer.flush()
        report.encoded = encoded  # each distinct window of a piece once, as the local build encodes them
        report.encode_seconds = round(time.perf_counter() - t0, 2)
        settle_counts(report, plan)
        finish_update(index, report, log=log)
        report.seconds = round(time.time() - t_start, 2)
        return report
