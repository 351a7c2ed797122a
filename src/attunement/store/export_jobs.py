"""Large exports as background jobs: requested now, written to a private file by a worker,
downloaded when ready.

A request makes an ``export_jobs`` row (who, what, ``queued``) and returns at once. A worker
claims it (one statement; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers never
take the same job; a job whose worker died is taken again after a lease, as outreach messages
are), runs the streamed export (:meth:`attunement.store.exports.Exports.export_stream`) as
the requester, with the requester's scope and permissions, and writes it to a file of mode
0600 in a private directory (0700), updating the progress as chunks are written. Only the
requester sees the job and downloads the file, with the permissions the synchronous export
has (re-checked at download); the request, the export and every download are audited. A file
expires (``KEEP``) and is deleted by :meth:`ExportJobs.purge_expired`, which every worker
pass runs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from attunement import policy
from attunement.policy import Action
from attunement.store import audit
from attunement.store.accounts import Accounts
from attunement.store.core import Core
from attunement.store.errors import Forbidden, NotFound, StoreError, StoreValidationError
from attunement.store.exports import ColumnsOf, Exports, count_rows
from attunement.store.models import ExportJob
from attunement.store.scope import Actor

EXPORT_DIR_ENV = "ATTUNEMENT_EXPORT_DIR"
KEEP = timedelta(days=7)
LEASE = timedelta(minutes=30)
FORMATS = ("csv", "parquet")
_J = ExportJob.__table__


def _export_directory(core: Core) -> Path:
    """Where job files are written: ``ATTUNEMENT_EXPORT_DIR``, else ``exports/`` beside the
    identifier key file (both kept private: 0700)."""
    configured = os.environ.get(EXPORT_DIR_ENV, "").strip()
    return Path(configured) if configured else Path(core.key_path).parent / "exports"


def _job_dict(job: Any) -> dict[str, Any]:
    return {
        "id": job.id, "status": job.status, "format": job.format, "study": job.study_id,
        "pseudonymised": job.pseudonymised, "rows_done": job.rows_done,
        "rows_total": job.rows_total, "bytes": job.bytes, "error": job.error,
        "created_at": job.created_at, "finished_at": job.finished_at,
        "expires_at": job.expires_at, "ready": job.status == "done",
    }


class ExportJobs:
    """Large exports as background jobs: requested now, written by a worker, downloaded later.

    A job runs as its requester, with their scope and permissions (re-checked at
    download); only the requester sees it. ``actor`` is who acts. Reached as
    ``store.export_jobs``.

    Examples
    --------
    >>> job = store.export_jobs.request(practitioner, fmt="csv")
    >>> job["status"], job["pseudonymised"]
    ('queued', False)
    >>> from attunement.usecases.exports import instrument_columns
    >>> [done] = store.export_jobs.run_pending("worker-1", instrument_columns=instrument_columns)
    >>> done["status"], done["rows_done"]
    ('done', 1)
    >>> info, path = store.export_jobs.open_file(practitioner, job["id"])
    >>> path.read_text().split(",")[:3], oct(path.stat().st_mode & 0o777)
    (['site', 'study', 'family'], '0o600')
    >>> store.export_jobs.get(lead, job["id"])
    Traceback (most recent call last):
    ...
    attunement.store.errors.NotFound: no export 1
    """

    def __init__(self, core: Core) -> None:
        self.core = core
        self.exports = Exports(core)

    # ------------------------------------------------------------------ requester
    def request(
        self, actor: Actor, *, fmt: str = "csv", study: int | None = None,
        pseudonymise: bool | None = None,
    ) -> dict[str, Any]:
        """Queue an export of the assessments in ``actor``'s scope; the job (``queued``).

        Parameters
        ----------
        actor : Actor
            A signed-in user (the job runs with their scope and permissions).
        fmt : str
            ``csv`` or ``parquet``.
        study : int, optional
            Only this study's families.
        pseudonymise : bool, optional
            As :meth:`Exports.export_assessments`: researchers always get pseudonymised data;
            asking for identified data without the permission is refused now.

        Returns
        -------
        dict
            The job, as :meth:`get` returns it.
        """
        if fmt not in FORMATS:
            raise StoreValidationError("format", f"{fmt!r} is not a background export "
                                                 "(csv or parquet)")
        if actor.user_id is None:
            raise StoreValidationError("actor", "a background export is requested by a user")
        identified = policy.allows(actor, Action.EXPORT_IDENTIFIED)
        if pseudonymise is None:
            pseudonymise = not identified
        if not pseudonymise and not identified:
            raise Forbidden("researchers receive pseudonymised exports only")
        with self.core.db.write() as s:
            job = ExportJob(requested_by=actor.user_id, format=fmt,
                            study_id=None if study is None else int(study),
                            pseudonymised=pseudonymise, status="queued", rows_done=0,
                            created_at=self.core.now())
            s.add(job)
            s.flush()
            audit.append(s, actor=actor, action="request", entity="export_job",
                         entity_id=job.id, after={"format": fmt, "study": study,
                                                  "pseudonymised": pseudonymise})
            return _job_dict(job)

    def get(self, actor: Actor, job_id: int) -> dict[str, Any]:
        """Give one of the actor's own jobs.

        Parameters
        ----------
        actor : Actor
            The requester (anyone else's job is not found).
        job_id : int
            The job.

        Returns
        -------
        dict
            ``id``, ``status``, ``format``, ``study``, ``pseudonymised``, ``rows_done``,
            ``rows_total``, ``bytes``, ``error``, the times, and ``ready``.

        Raises
        ------
        NotFound
            For a job that is not the actor's.
        """
        with self.core.db.read() as s:
            return _job_dict(self._own(s, actor, job_id))

    def list_jobs(self, actor: Actor, *, limit: int = 50) -> list[dict[str, Any]]:
        """List the actor's own jobs, newest first.

        Parameters
        ----------
        actor : Actor
            The requester.
        limit : int, default 50
            How many (1 to 500).

        Returns
        -------
        list of dict
            The jobs, as :meth:`get` gives them.
        """
        with self.core.db.read() as s:
            stmt = (select(ExportJob).where(ExportJob.requested_by == actor.user_id)
                    .order_by(ExportJob.id.desc()).limit(max(1, min(int(limit), 500))))
            return [_job_dict(j) for j in s.execute(stmt).scalars()]

    def open_file(self, actor: Actor, job_id: int) -> tuple[dict[str, Any], Path]:
        """Give a finished job's file to its requester (the download is audited).

        Parameters
        ----------
        actor : Actor
            The requester, still allowed this kind of export.
        job_id : int
            The job.

        Returns
        -------
        tuple of (dict, Path)
            The job and its file.

        Raises
        ------
        StoreValidationError
            When the job is not finished.
        NotFound
            For someone else's job, or a file that has expired.
        Forbidden
            For identified data the actor may no longer export.
        """
        with self.core.db.write() as s:
            job = self._own(s, actor, job_id)
            if not job.pseudonymised and not policy.allows(actor, Action.EXPORT_IDENTIFIED):
                raise Forbidden("researchers receive pseudonymised exports only")
            now = self.core.now()
            if job.status != "done" or job.file_path is None:
                raise StoreValidationError("job", f"export {job.id} is {job.status}, "
                                                  "not ready to download")
            path = Path(job.file_path)
            if (job.expires_at is not None and job.expires_at <= now) or not path.exists():
                raise NotFound(f"the file of export {job.id} has expired")
            audit.append(s, actor=actor, action="download", entity="export_job",
                         entity_id=job.id, after={"rows": job.rows_done, "bytes": job.bytes})
            return _job_dict(job), path

    @staticmethod
    def _own(s: Any, actor: Actor, job_id: int) -> ExportJob:
        job = s.get(ExportJob, int(job_id))
        if job is None or actor.user_id is None or job.requested_by != actor.user_id:
            raise NotFound(f"no export {job_id}")
        return job

    # ------------------------------------------------------------------ worker
    def claim(self, worker: str, now: datetime | None = None, *,
              lease: timedelta = LEASE) -> dict[str, Any] | None:
        """Take the oldest queued job (or one whose worker died) for a worker, atomically.

        Parameters
        ----------
        worker : str
            The worker's name.
        now : datetime, optional
            The current time.
        lease : timedelta, default LEASE
            How long a running job's claim holds.

        Returns
        -------
        dict or None
            The job with its ``requested_by``, or None when nothing is waiting.
        """
        now = now or self.core.now()
        due = (_J.c.status == "queued") | ((_J.c.status == "running")
                                            & (_J.c.claimed_at < now - lease))
        pick = select(_J.c.id).where(due).order_by(_J.c.created_at, _J.c.id).limit(1)
        if self.core.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        stmt = (update(_J).where(_J.c.id.in_(pick.scalar_subquery()))
                .values(status="running", claimed_by=worker, claimed_at=now, rows_done=0)
                .returning(_J.c.id))
        with self.core.db.write(lock=False) as s:
            row = s.execute(stmt).first()
        if row is None:
            return None
        with self.core.db.read() as s:
            job = s.get(ExportJob, row[0])
            return {**_job_dict(job), "requested_by": job.requested_by}

    def run(self, job: dict[str, Any], *, instrument_columns: ColumnsOf,
            directory: Path | None = None, chunk: int = 20_000) -> dict[str, Any]:
        """Write a claimed job's file (mode 0600) and record how it ended.

        A failure is recorded on the job (store errors say what; others only their kind) and
        the partial file removed.

        Parameters
        ----------
        job : dict
            A job from :meth:`claim`.
        instrument_columns : callable
            Each instrument's export columns, from its definition
            (:func:`attunement.usecases.exports.instrument_columns` passes them).
        directory : Path, optional
            Where to write (default ``ATTUNEMENT_EXPORT_DIR``, else ``exports/`` beside the key
            file; made 0700).
        chunk : int, default 20000
            Rows per chunk.

        Returns
        -------
        dict
            The job as it ended (``done`` or ``failed``).
        """
        directory = Path(directory or _export_directory(self.core))
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        ext = "csv" if job["format"] == "csv" else "parquet"
        final = directory / f"export-{job['id']}-{secrets.token_hex(8)}.{ext}"
        part = final.with_name(final.name + ".part")
        try:
            actor = Accounts(self.core).actor(job["requested_by"])
            with self.core.db.read() as s:
                total = count_rows(s, actor, job["study"])
            self._progress(job["id"], 0, total)
            plan, body = self.exports.export_stream(
                actor, fmt=job["format"], study=job["study"],
                pseudonymise=job["pseudonymised"], chunk=chunk,
                instrument_columns=instrument_columns)
            size, reported = 0, 0
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                for data in body:
                    fh.write(data)
                    size += len(data)
                    if plan.rows != reported:
                        reported = plan.rows
                        self._progress(job["id"], reported, total)
            os.replace(part, final)
        except Exception as exc:  # the job records why; the worker goes on with the next one
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            return self._finish(job["id"], status="failed", error=_why(exc))
        now = self.core.now()
        return self._finish(job["id"], status="done", rows=plan.rows, size=size,
                            path=str(final), expires=now + KEEP)

    def run_pending(self, worker: str | None = None, *, instrument_columns: ColumnsOf,
                    directory: Path | None = None, limit: int | None = None,
                    chunk: int = 20_000) -> list[dict[str, Any]]:
        """Purge expired files, then claim and run queued jobs until none is left.

        Parameters
        ----------
        worker : str, optional
            The worker's name (default: host and process id).
        instrument_columns : callable
            Each instrument's export columns, as for :meth:`run`.
        directory : Path, optional
            Where to write, as for :meth:`run`.
        limit : int, optional
            Run at most this many jobs.
        chunk : int, default 20000
            Rows per chunk.

        Returns
        -------
        list of dict
            The jobs as they ended.
        """
        worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.purge_expired()
        done: list[dict[str, Any]] = []
        while limit is None or len(done) < limit:
            job = self.claim(worker)
            if job is None:
                break
            done.append(self.run(job, directory=directory, chunk=chunk,
                                 instrument_columns=instrument_columns))
        return done

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete the files of expired jobs and mark the jobs ``expired``.

        Parameters
        ----------
        now : datetime, optional
            The current time.

        Returns
        -------
        int
            How many jobs expired.
        """
        now = now or self.core.now()
        with self.core.db.write() as s:
            jobs = list(s.execute(select(ExportJob).where(
                ExportJob.status == "done", ExportJob.expires_at <= now)).scalars())
            for job in jobs:
                if job.file_path:
                    with contextlib.suppress(FileNotFoundError):
                        Path(job.file_path).unlink()
                job.status, job.file_path = "expired", None
            if jobs:
                audit.append(s, actor=self.core.system_actor(), action="expire",
                             entity="export_job", after={"jobs": [j.id for j in jobs]})
        return len(jobs)

    def _progress(self, job_id: int, done: int, total: int | None) -> None:
        with self.core.db.write(lock=False) as s:
            s.execute(update(_J).where(_J.c.id == job_id).values(
                rows_done=done, rows_total=total, claimed_at=self.core.now()))

    def _finish(self, job_id: int, *, status: str, rows: int | None = None,
                size: int | None = None, path: str | None = None,
                expires: datetime | None = None, error: str | None = None) -> dict[str, Any]:
        values: dict[str, Any] = {"status": status, "finished_at": self.core.now(),
                                  "error": error}
        if status == "done":
            values.update(rows_done=rows, rows_total=rows, bytes=size, file_path=path,
                          expires_at=expires)
        with self.core.db.write(lock=False) as s:
            s.execute(update(_J).where(_J.c.id == job_id).values(**values))
        with self.core.db.read() as s:
            return _job_dict(s.get(ExportJob, job_id))


def _why(exc: Exception) -> str:
    """What the requester is told about a failed job (store errors say what; anything else
    only its kind: a path or a query is not shown)."""
    if isinstance(exc, StoreError):
        return str(exc)
    return f"the export failed ({exc.__class__.__name__}); ask an administrator"

