"""Several hosts (issue 19, item 2): two gunicorn hosts on one PostgreSQL and one object store
(versitygw) behind the real nginx with deploy/nginx.conf's upstream, and one host lost (SIGKILL,
master and workers at once) in the middle of a `pulumi up` of 500 resources: the update
completes, through the other host, with the state its program describes. SLOW: about 45 s on a
loaded 2-core machine (two hosts to start, a 500-resource up and a preview)."""
import base64
import os
import signal

import pytest

from tests.support import postgres as pg, unique
from tests.support.api import user_with_token
from tests.support.cli import Pulumi, stash_program
from tests.support.faults import export, history, up_disrupted
from tests.support.servers import Nginx, Service, wait_until

COUNT = 500


@pytest.fixture
def hosts(postgres, s3_server, tmp_path):
    """Two hosts (each a gunicorn with two workers) sharing one database, one object store (every
    finished version goes there) and one master key, behind one nginx."""
    with pg.throwaway_database(postgres.url()) as url:
        key = base64.b64encode(os.urandom(32)).decode()
        env = {"TRUSTED_PROXY_COUNT": 1, "BLOB_STORE_MIN_BYTES": 0,
               **s3_server.settings(s3_server.bucket())}
        started = []
        try:
            for name in ("a", "b"):
                started.append(Service(url, master_key=key, env=env,
                                       workdir=tmp_path / name).start())
            nginx = Nginx(tmp_path / "nginx", [svc.port for svc in started]).start()
            try:
                yield started, nginx
            finally:
                nginx.stop()
        finally:
            for svc in started:
                svc.stop()


def lose(host):
    """The host is gone at once: its master and workers SIGKILLed together, nothing flushed."""
    for pid in [host.proc.pid, *host.worker_pids()]:
        os.kill(pid, signal.SIGKILL)
    host.proc.wait(30)
    wait_until(lambda: not host.worker_pids(), "the killed host's workers to be gone")


def test_losing_a_host_mid_up_of_500_resources_the_up_completes_with_the_right_state(
        hosts, pulumi_bin, tmp_path):
    (first, second), nginx = hosts
    login = unique("u")
    token = user_with_token(first.database_url, login)
    cli = Pulumi(pulumi_bin, nginx.url, token, tmp_path / "cli")
    cli.extra_env["SSL_CERT_FILE"] = str(nginx.cert)  # the CLI (Go) trusts nginx's test certificate
    cli.login()
    cli.login_name = login
    cli.write_program(stash_program({f"r{i}": i for i in range(COUNT)}))
    cli.run("stack", "init", "dev")

    served_by_first = []

    def lose_the_first():
        served_by_first.append(len(first.access_lines()))
        lose(first)

    # Both hosts have served a third of the update's requests before one of them goes.
    code, output = up_disrupted(cli, second, "dev", COUNT // 3, lose_the_first)
    assert code == 0, output
    [served_by_first] = served_by_first
    assert served_by_first > 10  # the lost host had its share of the traffic
    # ... and nginx found it gone, and went on to the other host: a refused connection, or (when
    # the rest of the up fits in the 10 s nginx then leaves the host out) a kept-alive connection
    # the kill broke.
    failed = [line for line in nginx.error_log.read_text().splitlines()
              if f"127.0.0.1:{first.port}" in line and any(
                  sign in line for sign in ("Connection refused", "reset by peer",
                                            "prematurely closed", "Broken pipe"))]
    assert failed

    state = export(cli, "dev")["deployment"]
    stashes = {r["urn"].rsplit("::", 1)[1]: r["outputs"] for r in state["resources"]
               if r["type"] == "pulumi:index:Stash"}
    assert stashes == {f"r{i}": {"input": i, "output": i} for i in range(COUNT)}
    assert not state.get("pending_operations")
    assert history(cli, "dev") == [(1, "update", "succeeded")]
    [(blob_key,)] = second.query("SELECT blob_key FROM checkpoints WHERE version = 1")
    assert blob_key.startswith("sha256/")  # the finished version is in the object store
    # The stored state is the program's: the CLI's own integrity check and diff agree.
    cli.run("preview", "--expect-no-changes", "--stack", "dev")
