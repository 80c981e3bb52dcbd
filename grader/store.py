"""The course gradebook: one SQLite file that every `grader grade` writes into, so that a class
is graded once, a killed run resumes where it stopped, and the report folder is a view of it.

The grading command's main process is the only writer, with one transaction per finished
submission: a result is wholly in the gradebook or not at all, whatever moment the process dies,
and the same result cannot be recorded twice (its key is the submission and the grading digest).
A submission is a file's path and content hash; it is graded once per *grading digest* (the
rubric file, the computed answer key, the grader's version), so a rerun with nothing changed
grades nothing, a changed file is graded again, and a changed rubric grades again.

Every score is also a row of `scores`, naming the run that gave it, so the gradebook can be
queried as a relational database (which run gave which score); `results` keeps the whole
SubmissionResult and its rendered documents (zlib-compressed JSON: they are most of what a class
writes, and compress tenfold), from which the report folder is rebuilt. Schema
versions are `PRAGMA user_version`; `MIGRATIONS[n]` takes a gradebook from version n to n + 1.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import NamedTuple

from grader import __version__
from grader.results import SubmissionResult
from grader.roster import ROSTER_FIELDS, Roster, Student
from grader.textsafety import encodable

MIGRATIONS = [
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL,
        rubric TEXT NOT NULL, assessment_id TEXT NOT NULL, digest TEXT NOT NULL, grader_version TEXT NOT NULL,
        files INTEGER NOT NULL, graded INTEGER NOT NULL DEFAULT 0, reused INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE submissions (
        id INTEGER PRIMARY KEY, source TEXT NOT NULL, content_hash TEXT NOT NULL, student_id TEXT NOT NULL,
        handed_in TEXT, first_run INTEGER NOT NULL REFERENCES runs(id), UNIQUE (source, content_hash));
    CREATE TABLE results (
        submission_id INTEGER NOT NULL REFERENCES submissions(id), digest TEXT NOT NULL,
        run_id INTEGER NOT NULL REFERENCES runs(id), seconds REAL NOT NULL,
        result TEXT NOT NULL, documents TEXT NOT NULL, PRIMARY KEY (submission_id, digest));
    CREATE TABLE scores (
        submission_id INTEGER NOT NULL, digest TEXT NOT NULL, part TEXT NOT NULL, criterion TEXT NOT NULL,
        marks REAL NOT NULL, score REAL, status TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL,
        PRIMARY KEY (submission_id, digest, part, criterion),
        FOREIGN KEY (submission_id, digest) REFERENCES results(submission_id, digest));
    """,
    """
    CREATE TABLE run_members (
        run_id INTEGER NOT NULL REFERENCES runs(id), position INTEGER NOT NULL,
        submission_id INTEGER NOT NULL REFERENCES submissions(id), PRIMARY KEY (run_id, position));
    CREATE TABLE manual_marks (
        id INTEGER PRIMARY KEY, submission_id INTEGER NOT NULL REFERENCES submissions(id),
        part TEXT NOT NULL, criterion TEXT NOT NULL, mark REAL NOT NULL, comment TEXT NOT NULL,
        marker TEXT NOT NULL, imported_at TEXT NOT NULL, import_file TEXT NOT NULL);
    CREATE INDEX manual_marks_by_item ON manual_marks (submission_id, part, criterion, id);
    """,
    """
    CREATE TABLE program_runs (
        content_hash TEXT NOT NULL, fingerprint TEXT NOT NULL, run TEXT NOT NULL, recorded TEXT NOT NULL,
        PRIMARY KEY (content_hash, fingerprint));
    """,
    # a run may keep stored results (`grader regrade --part`): each member names the result it shows,
    # and each score the run that gave it
    """
    ALTER TABLE run_members ADD COLUMN digest TEXT;
    UPDATE run_members SET digest = (SELECT digest FROM runs WHERE runs.id = run_members.run_id);
    ALTER TABLE scores ADD COLUMN run_id INTEGER REFERENCES runs(id);
    UPDATE scores SET run_id = (SELECT run_id FROM results r
                                WHERE r.submission_id = scores.submission_id AND r.digest = scores.digest);
    """,
    # the course roster, the latest one stored in use
    """
    CREATE TABLE rosters (id INTEGER PRIMARY KEY, file TEXT NOT NULL, stored TEXT NOT NULL);
    CREATE TABLE roster_students (
        roster_id INTEGER NOT NULL REFERENCES rosters(id), position INTEGER NOT NULL, id TEXT NOT NULL,
        name TEXT NOT NULL, email TEXT NOT NULL, section TEXT NOT NULL, canvas_id TEXT NOT NULL,
        sis_user_id TEXT NOT NULL, sis_login_id TEXT NOT NULL, PRIMARY KEY (roster_id, position));
    """,
    # results.documents written from here on are zlib-compressed JSON (a BLOB); text ones are still read.
    # Nothing to change in the tables: the version tells an older grader that it cannot read them.
    "SELECT 1",
]
SCHEMA_VERSION = len(MIGRATIONS)


class GradebookError(Exception):
    """The gradebook cannot be used: unreadable, from a newer grader, or in use by another run."""


@dataclass(frozen=True)
class Mark:
    """A person's mark for one manual criterion of one submission."""

    mark: float
    comment: str
    marker: str
    imported_at: str


def pack_documents(documents: dict[str, str]) -> bytes:
    """A result's documents as the gradebook stores them: zlib-compressed JSON. Done by whichever
    process rendered them, so that the recording process only writes the bytes."""
    return zlib.compress(json.dumps(documents).encode(), 1)


def unpack_documents(stored: bytes | str) -> dict[str, str]:
    """Stored documents back (gradebooks of schema version 5 and before hold them as text JSON)."""
    return json.loads(zlib.decompress(stored) if isinstance(stored, bytes) else stored)


class Stored(NamedTuple):
    """A member of a finished run's batch: its position, the file, its recorded result and
    documents (packed: unpacked only where they are read), and the digest that result was
    recorded under."""

    position: int
    source: str
    content_hash: str
    handed_in: str | None
    result: SubmissionResult
    packed: bytes | str
    digest: str

    @property
    def documents(self) -> dict[str, str]:
        return unpack_documents(self.packed)


class Indexed(NamedTuple):
    """A member of a finished run's batch without its result: the file, and who the result says handed it in."""

    source: str
    content_hash: str
    handed_in: str | None
    student_id: str
    shown_source: str  # the result's `source`, as reports show it
    readable: bool


@dataclass(frozen=True)
class SubmissionFile:
    """A file handed in, as the gradebook identifies it."""

    path: Path
    content_hash: str
    handed_in: str | None

    @property
    def source(self) -> str:
        """The path as stored: undecodable bytes of a file name as escapes (SQLite text is UTF-8)."""
        return encodable(str(self.path))

    @classmethod
    def of(cls, path: Path) -> "SubmissionFile":
        digest = hashlib.sha256()
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        mtime = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)
        return cls(path, digest.hexdigest(), mtime.isoformat(timespec="seconds"))


def grading_digest(rubric_path: Path, key_json: str) -> str:
    """What a stored result depends on besides the file: the rubric as written, its computed key
    (which covers solvers, calibration thresholds and referenced files) and the grader's version."""
    digest = hashlib.sha256()
    for part in (rubric_path.read_bytes(), key_json.encode(), __version__.encode()):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Gradebook:
    """An open gradebook, held exclusively (a lock file beside it) until `close`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = self._acquire(self.path.with_name(self.path.name + ".lock"))
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._release()
            raise GradebookError(f"{self.path} is not a usable grader gradebook: {exc}") from None

    @staticmethod
    def _acquire(lock_path: Path) -> int:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip()
            os.close(fd)
            raise GradebookError(f"another grader run is using {lock_path.with_suffix('')} ({holder or 'pid unknown'}); "
                                 "wait for it to finish, or give another --out or --gradebook") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, since {_now()}".encode())
        return fd

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing drops the flock
            self._lock = None

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise GradebookError(f"{self.path} has gradebook schema {version}, newer than this grader's "
                                 f"{SCHEMA_VERSION}; upgrade grader")
        for number in range(version, SCHEMA_VERSION):  # each migration and its version number commit together
            self.db.executescript(f"BEGIN IMMEDIATE; {MIGRATIONS[number]}; PRAGMA user_version = {number + 1}; COMMIT;")

    def transaction(self):
        return _Transaction(self.db)

    def close(self) -> None:
        self.db.close()
        self._release()

    # --- runs -------------------------------------------------------------------------------------
    def begin_run(self, rubric: str, assessment_id: str, digest: str, files: int) -> int:
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO runs (started, status, rubric, assessment_id, digest, grader_version, files) "
                "VALUES (?, 'running', ?, ?, ?, ?, ?)", (_now(), rubric, assessment_id, digest, __version__, files))
        return cursor.lastrowid

    def finish_run(self, run_id: int, status: str, graded: int, reused: int,
                   members: list[tuple[SubmissionFile, str]] = ()) -> None:
        """Close the run; a finished run names its batch (`members`, in order, each with the digest
        of the result it shows): the reports show it."""
        with self.transaction():
            self.db.execute("UPDATE runs SET finished = ?, status = ?, graded = ?, reused = ? WHERE id = ?",
                            (_now(), status, graded, reused, run_id))
            self.db.executemany(
                "INSERT INTO run_members (run_id, position, submission_id, digest) "
                "SELECT ?, ?, id, ? FROM submissions WHERE source = ? AND content_hash = ?",
                [(run_id, position, digest, file.source, file.content_hash)
                 for position, (file, digest) in enumerate(members)])

    def _last_run(self, assessment_id: str) -> int | None:
        row = self.db.execute("SELECT id FROM runs WHERE assessment_id = ? AND status = 'finished' "
                              "ORDER BY id DESC LIMIT 1", (assessment_id,)).fetchone()
        return None if row is None else row[0]

    def last_batch(self, assessment_id: str) -> list[Stored]:
        """The last finished run's batch, in order."""
        return list(self.iter_batch(assessment_id))

    def batch_index(self, assessment_id: str) -> list[Indexed]:
        """The last finished run's batch, in order, without reading its results whole: who handed
        in which file when, as each result records it."""
        rows = self.db.execute(
            "SELECT s.source, s.content_hash, s.handed_in, json_extract(r.result, '$.student_id'), "
            "json_extract(r.result, '$.source'), json_extract(r.result, '$.readable') FROM run_members m "
            "JOIN submissions s ON s.id = m.submission_id JOIN results r ON r.submission_id = s.id AND r.digest = m.digest "
            "WHERE m.run_id = ? ORDER BY m.position", (self._last_run(assessment_id),)).fetchall()
        return [Indexed(source, content_hash, handed_in, student_id, shown, bool(readable))
                for source, content_hash, handed_in, student_id, shown, readable in rows]

    def iter_batch(self, assessment_id: str) -> Iterator[Stored]:
        """The last finished run's batch, in order, one member at a time (a class of any size)."""
        cursor = self.db.execute(
            "SELECT m.position, s.source, s.content_hash, s.handed_in, r.result, r.documents, m.digest "
            "FROM run_members m JOIN submissions s ON s.id = m.submission_id "
            "JOIN results r ON r.submission_id = s.id AND r.digest = m.digest "
            "WHERE m.run_id = ? ORDER BY m.position", (self._last_run(assessment_id),))
        for position, source, content_hash, handed_in, result, packed, digest in cursor:
            yield Stored(position, source, content_hash, handed_in, SubmissionResult.model_validate_json(result),
                         packed, digest)

    def last_members(self, assessment_id: str) -> tuple[int, dict[tuple[str, str], str]] | None:
        """The last finished run and the digest of each member's result by (source, content hash),
        without reading the results; None before any finished run."""
        run_id = self._last_run(assessment_id)
        if run_id is None:
            return None
        rows = self.db.execute("SELECT s.source, s.content_hash, m.digest FROM run_members m "
                               "JOIN submissions s ON s.id = m.submission_id WHERE m.run_id = ?", (run_id,)).fetchall()
        return run_id, {(source, content_hash): digest for source, content_hash, digest in rows}

    def result_json(self, file: SubmissionFile, digest: str) -> str:
        """A recorded result, as the JSON it is stored as."""
        return self.db.execute("SELECT r.result FROM results r JOIN submissions s ON s.id = r.submission_id "
                               "WHERE s.source = ? AND s.content_hash = ? AND r.digest = ?",
                               (file.source, file.content_hash, digest)).fetchone()[0]

    def part_scores(self, file: SubmissionFile,
                    digest: str) -> dict[str, tuple[int, list[tuple[str, float, float | None]]]]:
        """A recorded result's scores by part: the run that gave them, and (criterion, marks, score)
        of each criterion in criterion order."""
        parts: dict[str, tuple[int, list]] = {}
        for part, run_id, criterion, marks, score in self.db.execute(
                "SELECT sc.part, sc.run_id, sc.criterion, sc.marks, sc.score FROM scores sc "
                "JOIN submissions s ON s.id = sc.submission_id WHERE s.source = ? AND s.content_hash = ? "
                "AND sc.digest = ? ORDER BY sc.part, sc.criterion", (file.source, file.content_hash, digest)):
            parts.setdefault(part, (run_id, []))[1].append((criterion, marks, score))
        return parts

    # --- the roster -------------------------------------------------------------------------------
    def roster(self) -> Roster | None:
        """The roster stored last, or None if none was ever given."""
        row = self.db.execute("SELECT id, file FROM rosters ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        students = self.db.execute(f"SELECT {', '.join(ROSTER_FIELDS)} FROM roster_students WHERE roster_id = ? "
                                   "ORDER BY position", (row[0],)).fetchall()
        return Roster([Student(*values) for values in students], row[1])

    def store_roster(self, roster: Roster) -> bool:
        """Keep `roster` for later commands, unless it has the same students as the one stored last;
        returns whether it was stored."""
        current = self.roster()
        if current is not None and current.students == roster.students:
            return False
        with self.transaction():
            roster_id = self.db.execute("INSERT INTO rosters (file, stored) VALUES (?, ?)",
                                        (encodable(roster.file), _now())).lastrowid
            self.db.executemany(
                f"INSERT INTO roster_students (roster_id, position, {', '.join(ROSTER_FIELDS)}) "
                f"VALUES (?, ?, {', '.join('?' * len(ROSTER_FIELDS))})",
                [(roster_id, position, *astuple(student)) for position, student in enumerate(roster.students)])
        return True

    # --- manual marks -----------------------------------------------------------------------------
    def marks(self) -> dict[tuple[str, str, str, str], Mark]:
        """The latest mark per (source, content hash, part, criterion)."""
        rows = self.db.execute(
            "SELECT s.source, s.content_hash, m.part, m.criterion, m.mark, m.comment, m.marker, m.imported_at "
            "FROM manual_marks m JOIN submissions s ON s.id = m.submission_id "
            "WHERE m.id = (SELECT MAX(id) FROM manual_marks l WHERE l.submission_id = m.submission_id "
            "AND l.part = m.part AND l.criterion = m.criterion)").fetchall()
        return {(r[0], r[1], r[2], r[3]): Mark(r[4], r[5], r[6], r[7]) for r in rows}

    def record_marks(self, rows: list, marker: str, import_file: str) -> int:
        """Store imported marks in one transaction; a row equal to the latest mark is not stored
        again, so importing the same file twice changes nothing. Returns the marks stored."""
        current = self.marks()
        stored, when = 0, _now()
        with self.transaction():
            for row in rows:
                latest = current.get((row.source, row.content_hash, row.part, row.criterion))
                if latest is not None and (latest.mark, latest.comment) == (row.mark, row.comment):
                    continue
                submission_id = self.db.execute("SELECT id FROM submissions WHERE source = ? AND content_hash = ?",
                                                (row.source, row.content_hash)).fetchone()[0]
                self.db.execute("INSERT INTO manual_marks (submission_id, part, criterion, mark, comment, marker, "
                                "imported_at, import_file) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                (submission_id, row.part, row.criterion, row.mark, row.comment, marker, when,
                                 import_file))
                stored += 1
        return stored

    # --- results ----------------------------------------------------------------------------------
    def student_of(self, file: SubmissionFile) -> str | None:
        """The student id recorded for this file's content, if it was graded before."""
        row = self.db.execute("SELECT student_id FROM submissions WHERE source = ? AND content_hash = ?",
                              (file.source, file.content_hash)).fetchone()
        return None if row is None else row[0]

    def seconds(self, file: SubmissionFile, digest: str) -> float | None:
        """How long grading this file's content took under this digest, if it is recorded (else None)."""
        row = self.db.execute(
            "SELECT r.seconds FROM results r JOIN submissions s ON s.id = r.submission_id "
            "WHERE s.source = ? AND s.content_hash = ? AND r.digest = ?",
            (file.source, file.content_hash, digest)).fetchone()
        return None if row is None else row[0]

    def program_run(self, file: SubmissionFile, fingerprint: str) -> str | None:
        """A notebook's recorded sandboxed run (JSON) for this content under this program fingerprint."""
        row = self.db.execute("SELECT run FROM program_runs WHERE content_hash = ? AND fingerprint = ?",
                              (file.content_hash, fingerprint)).fetchone()
        return None if row is None else row[0]

    def record(self, run_id: int, file: SubmissionFile, digest: str, result: SubmissionResult,
               documents: bytes, seconds: float,
               program_run: tuple[str, str] | None = None, replace: bool = False,
               kept: dict[str, int] | None = None) -> None:
        """One finished submission with its documents (`pack_documents`), in one transaction;
        recording it again changes nothing, unless
        `replace` (a regrade asked for), which puts this result in place of the recorded one.
        `program_run` is (fingerprint, run JSON) of a notebook's run, kept for reuse; `kept` maps
        the parts whose stored scores this result carries over to the runs that gave them."""
        kept = kept or {}
        with self.transaction():
            if program_run is not None:
                self.db.execute(f"INSERT OR {'REPLACE' if replace else 'IGNORE'} INTO program_runs "
                                "(content_hash, fingerprint, run, recorded) VALUES (?, ?, ?, ?)",
                                (file.content_hash, *program_run, _now()))
            self.db.execute("INSERT OR IGNORE INTO submissions (source, content_hash, student_id, handed_in, first_run) "
                            "VALUES (?, ?, ?, ?, ?)",
                            (file.source, file.content_hash, result.student_id, file.handed_in, run_id))
            submission_id = self.db.execute("SELECT id FROM submissions WHERE source = ? AND content_hash = ?",
                                            (file.source, file.content_hash)).fetchone()[0]
            if replace:
                for table in ("scores", "results"):
                    self.db.execute(f"DELETE FROM {table} WHERE submission_id = ? AND digest = ?", (submission_id, digest))
            inserted = self.db.execute(
                "INSERT OR IGNORE INTO results (submission_id, digest, run_id, seconds, result, documents) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (submission_id, digest, run_id, seconds, result.model_dump_json(), documents)).rowcount
            if inserted:
                self.db.executemany(
                    "INSERT INTO scores (submission_id, digest, part, criterion, marks, score, status, reason, message, "
                    "run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(submission_id, digest, part.id, c.id, c.marks, c.score, c.status, c.reason, c.message,
                      kept.get(part.id, run_id)) for part in result.parts() for c in part.criteria])


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (the connection is in autocommit)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, exc, tb):
        if self.db.in_transaction:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        return False
