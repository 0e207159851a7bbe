"""What the docker SDK scripts share: one line per check, and a clear stop.

Each check is a `with check("what it shows"):` block. It prints `ok   what`
when the block runs through, or `FAIL what: why` and exits with status 1 at
the first assertion that fails or the first exception the SDK raises (an
APIError carries the daemon's HTTP status and message).
"""

import contextlib
import sys
import traceback

# Containers a script started, removed at exit even after a failure, so a
# run against a real Docker leaves nothing behind.
started = []


def fail(what, why):
    print(f"FAIL {what}: {why}", flush=True)
    cleanup()
    sys.exit(1)


@contextlib.contextmanager
def check(what):
    try:
        yield
    except AssertionError as error:
        fail(what, error)
    except Exception as error:
        # Where in the script it happened, for an unexpected exception.
        traceback.print_exc()
        fail(what, f"{type(error).__name__}: {error}")
    print(f"ok   {what}", flush=True)


def expect_equal(got, want, what="value"):
    assert got == want, f"{what}: expected {want!r}, got {got!r}"


def expect_raises(exception, call):
    """Runs call(); it must raise `exception`, which is returned."""
    try:
        result = call()
    except exception as error:
        return error
    raise AssertionError(f"expected {exception.__name__}, got a return: {result!r}")


def cleanup():
    for container in started:
        try:
            container.remove(force=True)
        except Exception:
            pass  # gone already, or the daemon is: nothing left to clean
    started.clear()


def connect():
    """docker.from_env(): DOCKER_HOST names the daemon; the SDK asks it
    which API version it speaks (GET /version) and uses that one."""
    try:
        import docker
    except ImportError:
        print("FAIL import docker: no docker SDK here; run scripts/provision.sh --test "
              "and use /opt/minidocker/docker-py/bin/python", flush=True)
        sys.exit(1)
    with check("docker.from_env() connects"):
        client = docker.from_env()
    return docker, client
