"""The docker SDK asks the daemon about itself and its images.

    DOCKER_HOST=unix:///run/minidocker.sock /opt/minidocker/docker-py/bin/python system.py

Needs the image busybox:latest (minidockerd has it offline from the start).
"""

import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
from checks import check, connect, expect_equal, expect_raises  # noqa: E402

docker, client = connect()

with check("client.ping() is True (GET /_ping)"):
    expect_equal(client.ping(), True, "ping")

with check('client.version()["ApiVersion"] is one the SDK speaks (GET /version)'):
    version = client.version()
    api = version.get("ApiVersion", "")
    assert re.fullmatch(r"1\.\d+", api), f"ApiVersion {api!r} is not 1.N: {version}"
    # The SDK refuses servers older than 1.24; docker 7.x itself targets 1.45.
    assert int(api.split(".")[1]) >= 24, f"ApiVersion {api} is older than 1.24"
    # Auto-negotiation picked what the daemon said.
    expect_equal(client.api.api_version, api, "the SDK's API version")
    print(f"     server {version.get('Version')!r}, API {api}")

with check('images.get("busybox") is busybox:latest (GET /images/busybox/json)'):
    busybox = client.images.get("busybox")
    assert "busybox:latest" in busybox.tags, f"tags {busybox.tags}"
    assert busybox.id.startswith("sha256:"), f"id {busybox.id!r} is not sha256:<hex>"

with check("images.list() has busybox (GET /images/json)"):
    images = client.images.list()
    ids = [image.id for image in images]
    assert busybox.id in ids, f"{busybox.id} not in {ids}"
    tags = [tag for image in images for tag in image.tags]
    assert "busybox:latest" in tags, f"busybox:latest not in {tags}"

with check("images.get of a missing image raises ImageNotFound (404)"):
    missing = "no-such-image-here:latest"
    expect_raises(docker.errors.ImageNotFound, lambda: client.images.get(missing))

print("system: all checks passed")
