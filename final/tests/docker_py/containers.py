"""The docker SDK runs containers: run, logs, exec, stop, wait, remove.

    DOCKER_HOST=unix:///run/minidocker.sock /opt/minidocker/docker-py/bin/python containers.py

Needs the image busybox:latest (minidockerd has it offline from the start).
Every wait is on an event (a log line, an exit), never a sleep.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
from checks import check, cleanup, connect, expect_equal, expect_raises, started  # noqa: E402

docker, client = connect()


def all_ids():
    return {c.id for c in client.containers.list(all=True)}


# containers.run without detach: create, start, follow the logs, wait, and
# (remove=True) delete; it returns what the container wrote to stdout.
with check('containers.run("busybox", "echo hi", remove=True) returns b"hi\\n"'):
    before = all_ids()
    out = client.containers.run("busybox", "echo hi", remove=True)
    expect_equal(out, b"hi\n", "output")

with check("remove=True leaves no container behind"):
    expect_equal(all_ids() - before, set(), "containers left")

# A non-zero exit is an exception that carries the status and the stderr.
with check("a non-zero exit raises ContainerError with exit_status and stderr"):
    error = expect_raises(
        docker.errors.ContainerError,
        lambda: client.containers.run(
            "busybox", ["sh", "-c", "echo oops >&2; exit 3"], remove=True
        ),
    )
    expect_equal(error.exit_status, 3, "exit_status")
    expect_equal(error.stderr, b"oops\n", "stderr")

with check("environment, working_dir and hostname reach the container"):
    out = client.containers.run(
        "busybox",
        ["sh", "-c", 'echo "$GREETING $(pwd) $(hostname)"'],
        environment={"GREETING": "hello"},
        working_dir="/tmp",
        hostname="sdk-host",
        remove=True,
    )
    expect_equal(out, b"hello /tmp sdk-host\n", "output")

# A long-running container, in the background.
name = f"docker-py-{os.getpid()}"
with check("containers.run(detach=True) returns a running container"):
    container = client.containers.run(
        "busybox", "sh -c 'echo out; echo err >&2; sleep 1000'", name=name, detach=True
    )
    started.append(container)
    container.reload()
    expect_equal(container.status, "running", "status")
    expect_equal(container.name, name, "name")

with check("containers.list() shows it, by id and by name"):
    running = {c.id: c.name for c in client.containers.list()}
    assert container.id in running, f"{container.id} not in {list(running)}"
    expect_equal(running[container.id], name, "its name in the list")
    expect_equal(client.containers.get(name).id, container.id, "containers.get(name).id")

# The two lines come when the shell has run: follow the log stream until
# both have arrived (the event), then read the logs again, split by stream.
with check("logs(stream=True, follow=True) brings both lines"):
    stream = container.logs(stream=True, follow=True)
    seen = b""
    for chunk in stream:
        seen += chunk
        if b"out\n" in seen and b"err\n" in seen:
            break
    stream.close()
    assert b"out\n" in seen and b"err\n" in seen, f"the stream ended after {seen!r}"

with check("logs() has stdout and stderr, each on its own stream"):
    expect_equal(container.logs(stdout=True, stderr=False), b"out\n", "stdout")
    expect_equal(container.logs(stdout=False, stderr=True), b"err\n", "stderr")
    expect_equal(sorted(container.logs().splitlines()), [b"err", b"out"], "both")

with check('exec_run("echo in-exec") returns (0, b"in-exec\\n")'):
    result = container.exec_run("echo in-exec")
    expect_equal((result.exit_code, result.output), (0, b"in-exec\n"), "(exit_code, output)")

with check("exec_run(\"sh -c 'exit 3'\").exit_code is 3"):
    expect_equal(container.exec_run("sh -c 'exit 3'").exit_code, 3, "exit_code")

with check("stats(stream=False) has the name, pids and a CPU sample before this one"):
    stats = container.stats(stream=False)
    expect_equal(stats["name"], "/" + name, "name")
    assert stats["pids_stats"]["current"] >= 1, f"pids_stats: {stats['pids_stats']}"
    assert stats["precpu_stats"]["system_cpu_usage"] > 0, f"precpu_stats: {stats['precpu_stats']}"

# PID 1 of a PID namespace gets only the signals it has a handler for, and
# the shell (or the sleep it runs) has none for SIGTERM: stop waits out the
# timeout, then sends SIGKILL, and the status is 128 + 9.
with check("stop(timeout=1) then wait() gives StatusCode 137 (SIGKILL)"):
    container.stop(timeout=1)
    expect_equal(container.wait()["StatusCode"], 137, "StatusCode")
    container.reload()
    expect_equal(container.status, "exited", "status")

with check("remove() deletes it: containers.get(id) raises NotFound"):
    container.remove()
    started.remove(container)
    expect_raises(docker.errors.NotFound, lambda: client.containers.get(container.id))
    assert container.id not in all_ids(), "still in containers.list(all=True)"

# A restart policy: exits 1, restarted twice, then stays exited; `wait`
# returns at the last exit (between two runs the state is `restarting`).
with check('restart_policy on-failure:2: wait() after the last of 2 restarts, RestartCount 2'):
    t0 = time.time()  # the events below are this check's
    flaky = client.containers.run(
        "busybox", ["sh", "-c", "exit 1"], detach=True,
        restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
    )
    started.append(flaky)
    expect_equal(flaky.wait()["StatusCode"], 1, "StatusCode")
    flaky.reload()
    expect_equal(flaky.attrs["RestartCount"], 2, "RestartCount")
    expect_equal(flaky.status, "exited", "status")

# Events: what happened to it, from the ring (since/until: no waiting).
with check("client.events(since, until) lists its create, start and three dies"):
    actions = [
        e["Action"]
        for e in client.events(
            since=t0, until=time.time(), decode=True,
            filters={"container": flaky.id},
        )
    ]
    expect_equal(actions.count("die"), 3, f"dies in {actions}")
    expect_equal(actions[:2], ["create", "start"], "first events")

cleanup()
print("containers: all checks passed")
