"""The local mail catcher: a real SMTP server on a free port, real messages sent with smtplib."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from devtools import mailcatcher
from devtools.mailcatcher import MailCatcher, main, subject_slug

REPO = Path(__file__).resolve().parents[2]
# The mail catcher is a development tool in the repository's top-level `devtools` package, not
# in the installed product: a child process finds it through PYTHONPATH.
CHILD_ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
}
SENDER = "statclock@council.example.gov.uk"
ICS = (
    "BEGIN:VCALENDAR\r\n"
    "VERSION:2.0\r\n"
    "PRODID:-//statclock//EN\r\n"
    "METHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\n"
    "UID:written_statement_of_action@statclock\r\n"
    "DTSTAMP:20261122T101500Z\r\n"
    "DTSTART;VALUE=DATE:20261201\r\n"
    "SUMMARY:Written statement of action due\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)
SAVED_NAME = re.compile(r"^\d{8}T\d{6}Z-(\d{4})-([a-z0-9-]+)\.eml$")


def reminder() -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "director@council.example.gov.uk"
    message["Cc"] = "programme@council.example.gov.uk"
    message["Subject"] = "Reminder: written statement"
    message.set_content("The written statement of action is due on Tuesday 1 December 2026.\n")
    return message


def with_calendar_invite() -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "board@council.example.gov.uk"
    message["Subject"] = "Deadline: written statement of action (1 December 2026)"
    message.set_content("The deadline is attached for your calendar.\n")
    message.add_attachment(
        ICS.encode(),
        maintype="text",
        subtype="calendar",
        filename="written-statement.ics",
        params={"method": "REQUEST"},
    )
    return message


def send(catcher: MailCatcher, message: EmailMessage, to: list[str] | None = None) -> None:
    with smtplib.SMTP(catcher.host, catcher.port, timeout=10) as client:
        client.send_message(message, to_addrs=to)


def test_two_real_messages_are_saved_and_read_back_intact(tmp_path):
    directory = tmp_path / "var" / "mail"  # created on start
    catcher = MailCatcher(directory)
    catcher.start()
    try:
        assert catcher.port != 0  # port 0 asked the OS for a free port; this is the real one
        send(
            catcher,
            reminder(),
            to=[
                "director@council.example.gov.uk",
                "programme@council.example.gov.uk",
                "hidden@council.example.gov.uk",  # Bcc: only in the envelope
            ],
        )
        send(catcher, with_calendar_invite())
        # The sender got 250 only after the file was on disk, so no waiting is needed.
        names = sorted(p.name for p in directory.iterdir())
    finally:
        catcher.stop()

    assert len(names) == 2, names  # no temporary files left behind
    matches = [SAVED_NAME.match(name) for name in names]
    assert all(matches), names
    assert [(m[1], m[2]) for m in matches if m] == [
        ("0001", "reminder-written-statement"),
        ("0002", "deadline-written-statement-of-action-1-december-2026"),
    ]
    assert [p.name for p in catcher.files()] == names

    first, second = catcher.messages()  # still readable after stop()
    assert first["Subject"] == "Reminder: written statement"
    assert first["From"] == SENDER
    assert first["To"] == "director@council.example.gov.uk"
    assert first["Cc"] == "programme@council.example.gov.uk"
    assert first["Return-Path"] == f"<{SENDER}>"
    assert first["X-Envelope-To"].split(", ") == [
        "director@council.example.gov.uk",
        "programme@council.example.gov.uk",
        "hidden@council.example.gov.uk",
    ]
    assert "Tuesday 1 December 2026" in first.get_content()

    assert second["Subject"] == "Deadline: written statement of action (1 December 2026)"
    assert second["X-Envelope-To"] == "board@council.example.gov.uk"
    body = second.get_body(preferencelist=("plain",))
    assert body is not None and "attached for your calendar" in body.get_content()
    (attachment,) = second.iter_attachments()
    assert attachment.get_filename() == "written-statement.ics"
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("method") == "REQUEST"
    assert attachment.get_payload(decode=True).decode().splitlines() == ICS.splitlines()


def test_after_stop_nothing_listens_on_the_port(tmp_path):
    catcher = MailCatcher(tmp_path)
    catcher.start()
    port = catcher.port
    send(catcher, reminder())
    catcher.stop()
    assert not catcher.running and catcher.port == port
    with pytest.raises(OSError):
        smtplib.SMTP(catcher.host, port, timeout=5)
    catcher.stop()  # stopping twice is harmless


def test_context_manager_stops_even_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), MailCatcher(tmp_path) as catcher:
        assert catcher.running
        raise RuntimeError("boom")
    assert not catcher.running
    with pytest.raises(OSError):
        smtplib.SMTP(catcher.host, catcher.port, timeout=5)


def test_a_restart_continues_the_sequence_and_keeps_the_order(tmp_path):
    for subject in ("first", "second"):
        with MailCatcher(tmp_path) as catcher:
            message = reminder()
            message.replace_header("Subject", subject)
            send(catcher, message)
    assert [SAVED_NAME.match(p.name)[1] for p in catcher.files()] == ["0001", "0002"]
    assert [m["Subject"] for m in catcher.messages()] == ["first", "second"]


def test_files_appear_only_by_an_atomic_rename_of_a_hidden_temporary_file(tmp_path, monkeypatch):
    renames: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def checked_replace(source, target):
        source, target = Path(source), Path(target)
        assert source.parent == target.parent  # same directory: rename(2) is atomic
        assert source.name.startswith(".") and source.suffix == ".tmp"
        assert not target.exists()
        assert mailcatcher.saved_files(target.parent) == []  # a reader sees nothing yet
        assert source.read_bytes().rstrip().endswith(b"2026.")  # already complete
        renames.append((source, target))
        real_replace(source, target)

    monkeypatch.setattr(mailcatcher.os, "replace", checked_replace)
    with MailCatcher(tmp_path) as catcher:
        send(catcher, reminder())
    assert len(renames) == 1 and catcher.files() == [renames[0][1]]


def test_a_message_that_cannot_be_saved_is_refused_and_leaves_no_file(tmp_path, monkeypatch):
    def disk_full(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mailcatcher.os, "replace", disk_full)
    with MailCatcher(tmp_path) as catcher, pytest.raises(smtplib.SMTPDataError) as refused:
        send(catcher, reminder())
    assert refused.value.smtp_code == 451
    assert list(tmp_path.iterdir()) == []


def test_a_port_already_in_use_fails_at_once(tmp_path, capsys):
    with MailCatcher(tmp_path / "one") as busy:
        with pytest.raises(OSError):
            MailCatcher(tmp_path / "two", port=busy.port).start()
        assert main(["--dir", str(tmp_path / "two"), "--port", str(busy.port)]) == 1
    assert f"could not listen on 127.0.0.1:{busy.port}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("subject", "slug"),
    [
        ("Reminder: written statement", "reminder-written-statement"),
        ("  Café £5 — Ofsted's *monitoring* visit!  ", "cafe-5-ofsted-s-monitoring-visit"),
        ("", "no-subject"),
        (None, "no-subject"),
        ("???", "no-subject"),
        ("../../etc/passwd", "etc-passwd"),
        ("a" * 80, "a" * 60),
        ("word " * 20, ("word-" * 12).rstrip("-")),
    ],
)
def test_subject_slug(subject, slug):
    assert subject_slug(subject) == slug


def test_an_encoded_subject_is_decoded_before_it_names_the_file(tmp_path):
    message = reminder()
    message.replace_header("Subject", "Réunion: plan d’action — £0")
    with MailCatcher(tmp_path) as catcher:
        send(catcher, message)
    (path,) = catcher.files()
    assert path.name.endswith("-0001-reunion-plan-d-action-0.eml")
    assert catcher.messages()[0]["Subject"] == "Réunion: plan d’action — £0"


def test_the_module_does_not_import_airflow():
    check = (
        "import sys, devtools.mailcatcher\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, env=CHILD_ENV
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_product_package_does_not_contain_the_mail_catcher():
    import statutory_clock

    package = Path(statutory_clock.__file__).parent
    assert not list(package.rglob("mailcatcher*"))


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_command_line_runs_until_signalled_and_stops_cleanly(tmp_path, stop_signal):
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.mailcatcher", "--dir", "var/mail", "--port", "0"],
        cwd=tmp_path,
        env=CHILD_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline().strip()
        found = re.fullmatch(
            r"Mail catcher listening on 127\.0\.0\.1:(\d+); saving every email under var/mail",
            banner,
        )
        assert found, banner
        with smtplib.SMTP("127.0.0.1", int(found[1]), timeout=10) as client:
            client.send_message(reminder())
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert stdout.strip() == "Mail catcher stopped"
    (saved,) = (tmp_path / "var" / "mail").glob("*.eml")
    assert saved.name.endswith("-0001-reminder-written-statement.eml")
