#!/usr/bin/env bash
# Image builds whose RUN steps go through the runtime: podman build of a
# Dockerfile (buildah inside podman), and the buildah command itself, then podman
# run of what they built. Run by run.sh, which provides RUNTIME, E2E_WORK, IMAGE
# and podman's private configuration (buildah reads the same storage.conf).

set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

context=$E2E_WORK/build-context
mkdir -p "$context"
echo "copied by COPY" >"$context/hello.txt"
cat >"$context/Dockerfile" <<EOF
FROM $IMAGE
ENV GREETING=set-by-env
WORKDIR /app
COPY hello.txt /app/hello.txt
RUN echo "RUN in \$(pwd) saw \$GREETING" > /app/built.txt
CMD ["sh", "-c", "cat /app/hello.txt /app/built.txt; echo CMD in \$(pwd) with \$GREETING"]
EOF

check "podman build: FROM, ENV, WORKDIR, COPY, RUN, CMD" 0 "" podman build --tag localhost/e2e-built "$context"
check "podman run of the built image: COPY's file" 0 "copied by COPY" podman run --rm localhost/e2e-built
check "podman run of the built image: RUN ran in WORKDIR with ENV" 0 "RUN in /app saw set-by-env" \
	podman run --rm localhost/e2e-built
check "podman run of the built image: CMD, WORKDIR and ENV apply" 0 "CMD in /app with set-by-env" \
	podman run --rm localhost/e2e-built
printf 'FROM %s\nRUN exit 9\n' "$IMAGE" >"$context/Dockerfile.failing"
check "podman build: a failing RUN fails the build with its exit code" 9 "exit status 9" \
	podman build --tag localhost/e2e-failing --file "$context/Dockerfile.failing" "$context"

# The buildah command, with the runtime passed as its --runtime.
check "buildah from" 0 "" buildah from --name e2e-working "$IMAGE"
check "buildah run --runtime" 0 "buildah run here" \
	buildah run --runtime "$RUNTIME" e2e-working -- sh -c 'echo buildah run here | tee /marker'
check "buildah commit" 0 "" buildah commit --rm e2e-working localhost/e2e-buildah
check "podman run of buildah's image: the RUN's file is in it" 0 "buildah run here" \
	podman run --rm localhost/e2e-buildah cat /marker

summary build
