"""Who may connect: TLS + bearer token, loopback-only default, confined import paths."""

import subprocess

import grpc
import pytest

import lutnas
from conftest import ROOT, Daemon, lutnasd_path

TOKEN = "s3cret-token-0123456789abcdef"


@pytest.fixture(scope="module")
def tls_daemon(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    (d / "token").write_text(TOKEN + "\n")
    (d / "imports").mkdir()
    daemon = Daemon(d / "daemon", ["--tls_cert", str(d / "cert.pem"), "--tls_key", str(d / "key.pem"),
                                   "--token_file", str(d / "token"), "--import_dir", str(d / "imports")]).start()
    yield daemon, d
    assert daemon.stop() == 0


def test_call_without_token_is_unauthenticated(tls_daemon):
    daemon, d = tls_daemon
    with lutnas.Client(daemon.target, root_certificates=str(d / "cert.pem")) as c:
        with pytest.raises(lutnas.errors.Unauthenticated) as e:
            c.list_hardware()
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
    with lutnas.Client(daemon.target, root_certificates=str(d / "cert.pem"), token="wrong-token") as c:
        with pytest.raises(lutnas.errors.Unauthenticated) as e:
            c.list_hardware()
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert "invalid bearer token" in str(e.value)


def test_call_with_token_over_tls_works(tls_daemon):
    daemon, d = tls_daemon
    with lutnas.Client(daemon.target, root_certificates=str(d / "cert.pem"), token=TOKEN) as c:
        names = [h.name for h in c.list_hardware()]
        assert "host-cpu" in names


def test_plaintext_client_cannot_talk_to_the_tls_daemon(tls_daemon):
    daemon, _ = tls_daemon
    with lutnas.Client(daemon.target, token=TOKEN, timeout=5) as c:
        with pytest.raises(lutnas.errors.LutnasError):
            c.list_hardware()


def test_import_paths_are_confined_to_import_dir(tls_daemon):
    daemon, d = tls_daemon
    keys = subprocess.run([str(lutnasd_path().parent / "lutnas-inspect"), "--space",
                           str(ROOT / "search/spaces/tiny.json"), "--keys"],
                          capture_output=True, text=True, check=True).stdout.split()
    body = "key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n" + "".join(
        f"{k},0.1,0,0.1,0.1,5,measured,\n" for k in keys[:5])
    (d / "imports" / "ok.csv").write_text("# hardware: rk3588-npu\n" + body)
    (d / "outside.csv").write_text("# hardware: rk3588-npu\n" + body)
    with lutnas.Client(daemon.target, root_certificates=str(d / "cert.pem"), token=TOKEN) as c:
        resp = c.import_table("rk3588-npu", path="ok.csv")
        assert resp.info.entries == 5
        for bad in (str(d / "outside.csv"), "../outside.csv", "/etc/passwd"):
            with pytest.raises(lutnas.errors.LutnasError) as e:
                c.import_table("rk3588-npu", path=bad)
            assert e.value.code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND)
            assert "path" in str(e.value)
        assert len(c.list_tables("rk3588-npu")) == 1  # nothing else stored


def test_non_loopback_bind_requires_tls_and_token(tmp_path):
    res = subprocess.run([str(lutnasd_path()), "--listen", "0.0.0.0:0", "--db", str(tmp_path / "x.db")],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert "requires --tls_cert, --tls_key and --token_file" in res.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching anything
