# Developer entry points of the commerce service. `make` (or `make help`)
# lists them. Values you set in the environment or on the command line win
# over the defaults below (`make test PKGS=./internal/orders/...`).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

GO ?= go
TOOLS_BIN := $(CURDIR)/bin/tools
SERVICES_ENV := $(CURDIR)/.data/services.env

# Pinned tool versions (tests run mailpit and stripe-mock from bin/tools).
MAILPIT_VERSION := v1.27.11
STRIPE_MOCK_VERSION := v0.203.0
STATICCHECK_VERSION := v0.8.2
# The S3-compatible server the storage tests run (internal/storage); keep in
# step with versitygwVersion in internal/storage/versitygw_test.go.
VERSITYGW_VERSION := v1.8.0

# A binary that `go install` already built from the same module version in
# this directory is copied instead of rebuilt; empty to always build.
REUSE_GOBIN ?= $(shell $(GO) env GOPATH)/bin

# service-env reads one variable from the file `make services` writes. Used
# lazily, so it sees the file the services prerequisite has just written.
service-env = $(shell sed -n 's/^$(1)=//p' $(SERVICES_ENV) 2>/dev/null)

TEST_DATABASE_URL ?= $(call service-env,TEST_DATABASE_URL)
TEST_REDIS_URL ?= $(call service-env,TEST_REDIS_URL)
MAILPIT_BIN ?= $(TOOLS_BIN)/mailpit
STRIPE_MOCK_BIN ?= $(TOOLS_BIN)/stripe-mock
VERSITYGW_BIN ?= $(TOOLS_BIN)/versitygw
PKGS ?= ./...
# -race costs CPU and memory; two packages at a time suits a 2-core machine.
TEST_FLAGS ?= -race -count=1 -p 2 -timeout 20m

test-env = TEST_DATABASE_URL='$(TEST_DATABASE_URL)' TEST_REDIS_URL='$(TEST_REDIS_URL)' \
	MAILPIT_BIN='$(MAILPIT_BIN)' STRIPE_MOCK_BIN='$(STRIPE_MOCK_BIN)' VERSITYGW_BIN='$(VERSITYGW_BIN)'

# dev-default exports $(1)=$(2) for `make run` unless the environment or .env
# already sets $(1) (the service reads .env itself, environment first).
dev-default = if [ -z "$${$(1)+set}" ] && ! grep -Eqs '^[[:space:]]*(export[[:space:]]+)?$(1)[[:space:]]*=' .env; then export $(1)='$(2)'; fi;

.PHONY: help
help: ## List the targets
	@echo 'Usage: make <target> [VAR=value ...]'
	@echo
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z_-]+:.*## / { printf "  %-15s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

.PHONY: services
services: ## Find or start Postgres and Redis; writes .data/services.env
	@./scripts/services.sh

.PHONY: services-stop
services-stop: ## Stop the private Postgres/Redis that `make services` started
	@./scripts/services.sh stop

.PHONY: chromium
chromium: ## Install Debian's chromium for the browser tests when it is missing
	@./scripts/services.sh chromium

.PHONY: pgbouncer
pgbouncer: ## Install Debian's pgbouncer for the test behind PgBouncer when it is missing
	@./scripts/services.sh pgbouncer

.PHONY: build
build: ## Build the binary into bin/commerce
	@[ -x bin/commerce ] || echo "Building bin/commerce. The first build downloads and compiles the dependencies: it may take a few minutes."
	$(GO) build -o bin/commerce .

.PHONY: generate
generate: ## Regenerate the gqlgen code (graph/generated, graph/model) from gqlgen.yml
	$(GO) tool gqlgen generate

.PHONY: test
test: services test-tools chromium pgbouncer ## Run the tests with the race detector against the dev services
	$(test-env) $(GO) test $(TEST_FLAGS) $(PKGS)

.PHONY: run
run: services build ## Migrate, seed and serve with a development config; ends with the URLs and the admin sign-in
	@$(call dev-default,APP_ENV,development) \
	$(call dev-default,DATABASE_URL,$(call service-env,DATABASE_URL)) \
	$(call dev-default,REDIS_URL,$(call service-env,REDIS_URL)) \
	$(call dev-default,ADMIN_EMAIL,admin@example.com) \
	$(call dev-default,ADMIN_PASSWORD,admin-password-change-me) \
	$(call dev-default,LOW_STOCK_EMAIL,inventory@example.com) \
	$(call dev-default,WAREHOUSE_EMAIL,warehouse@example.com) \
	$(call dev-default,STOREFRONT_URL,http://localhost:3000) \
	echo "make run: APP_ENV=$${APP_ENV:-} HTTP_ADDR=$${HTTP_ADDR:-:8080}"; \
	bin/commerce migrate; \
	bin/commerce seed; \
	signin="$${ADMIN_EMAIL:-ADMIN_EMAIL of .env} / $${ADMIN_PASSWORD:-ADMIN_PASSWORD of .env}"; \
	bin/commerce serve | (trap '' INT TERM; awk -v signin="$$signin" "$$run_banner")

# run_banner is the awk program behind `make run`'s output: it passes the
# service's log through and, after the line that says it is serving,
# prints where to go. It ignores Ctrl-C (the trap above) and ends when the
# service has shut down and closed the pipe, so no log line is lost.
define run_banner
function field(name) {
	if (!match($$0, "\"" name "\":\"[^\"]*\"")) return ""
	return substr($$0, RSTART + length(name) + 4, RLENGTH - length(name) - 5)
}
{ print; fflush() }
!shown && /"msg":"serving"/ {
	shown = 1
	printf "\nCommerce is running; Ctrl-C stops it.\n"
	printf "  Playground  %s\n", field("playground")
	if (field("shop") != "") printf "  Shop        %s\n", field("shop")
	printf "  Admin       %s  (sign in: %s)\n\n", field("admin"), signin
	fflush()
}
endef
export run_banner

# GraphiQL for /playground, served from the binary: the browser builds of
# these npm packages and their licences live in internal/playground/graphiql
# (committed, embedded with go:embed), so neither the build nor the page
# needs the network. To upgrade, change a version, run
# `make playground-assets` and commit the directory.
GRAPHIQL_VERSION := 4.1.2
REACT_VERSION := 18.2.0
PLAYGROUND_ASSETS := internal/playground/graphiql

.PHONY: playground-assets
playground-assets: ## Fetch the pinned GraphiQL and React builds into internal/playground/graphiql (needs npm)
	@command -v npm >/dev/null || { echo "playground-assets: npm is needed (apt-get install -y npm)"; exit 1; }
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	(cd "$$tmp" && npm pack --silent graphiql@$(GRAPHIQL_VERSION) react@$(REACT_VERSION) react-dom@$(REACT_VERSION) >/dev/null); \
	for pkg in graphiql-$(GRAPHIQL_VERSION) react-$(REACT_VERSION) react-dom-$(REACT_VERSION); do \
		mkdir -p "$$tmp/$$pkg" && tar -xzf "$$tmp/$$pkg.tgz" -C "$$tmp/$$pkg"; \
	done; \
	rm -rf $(PLAYGROUND_ASSETS) && mkdir -p $(PLAYGROUND_ASSETS); \
	cp "$$tmp/graphiql-$(GRAPHIQL_VERSION)/package/graphiql.min.js" "$$tmp/graphiql-$(GRAPHIQL_VERSION)/package/graphiql.min.css" $(PLAYGROUND_ASSETS)/; \
	cp "$$tmp/react-$(REACT_VERSION)/package/umd/react.production.min.js" $(PLAYGROUND_ASSETS)/; \
	cp "$$tmp/react-dom-$(REACT_VERSION)/package/umd/react-dom.production.min.js" $(PLAYGROUND_ASSETS)/; \
	cp "$$tmp/graphiql-$(GRAPHIQL_VERSION)/package/LICENSE" $(PLAYGROUND_ASSETS)/LICENSE.graphiql; \
	cp "$$tmp/react-$(REACT_VERSION)/package/LICENSE" $(PLAYGROUND_ASSETS)/LICENSE.react; \
	cp "$$tmp/react-dom-$(REACT_VERSION)/package/LICENSE" $(PLAYGROUND_ASSETS)/LICENSE.react-dom; \
	printf 'graphiql %s\nreact %s\nreact-dom %s\n' $(GRAPHIQL_VERSION) $(REACT_VERSION) $(REACT_VERSION) >$(PLAYGROUND_ASSETS)/VERSIONS; \
	echo "wrote $(PLAYGROUND_ASSETS): graphiql $(GRAPHIQL_VERSION), react and react-dom $(REACT_VERSION); commit it"

.PHONY: lint
lint: $(TOOLS_BIN)/staticcheck ## go vet, the gofmt check and staticcheck
	$(GO) vet ./...
	@unformatted=$$(git ls-files -co --exclude-standard -- '*.go' | \
		while IFS= read -r f; do [ ! -f "$$f" ] || echo "$$f"; done | xargs -r -d '\n' gofmt -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt: these files need formatting (gofmt -w):"; echo "$$unformatted"; exit 1; fi
	$(TOOLS_BIN)/staticcheck ./...

# QUICK=1: every workload for a few seconds (CI smoke check; the flash
# sale's correctness still fails the run). BENCH_FLAGS passes more flags,
# e.g. BENCH_FLAGS='-only=catalog -vus=32 -duration=60s' (go run ./bench -h).
QUICK ?=
BENCH_FLAGS ?=

.PHONY: bench
bench: services test-tools ## Load benchmark of the real service (bench/, BENCHMARKS.md); QUICK=1 for a short run
	TEST_DATABASE_URL='$(TEST_DATABASE_URL)' TEST_REDIS_URL='$(TEST_REDIS_URL)' \
	MAILPIT_BIN='$(MAILPIT_BIN)' STRIPE_MOCK_BIN='$(STRIPE_MOCK_BIN)' \
	$(GO) run ./bench $(if $(filter 1 true yes,$(QUICK)),-quick) $(BENCH_FLAGS)

.PHONY: pg-ceiling
pg-ceiling: services ## Postgres's ceiling here (pgbench reads and durable writes) for docs/scaling.md's capacity model
	TEST_DATABASE_URL='$(TEST_DATABASE_URL)' scripts/pg-ceiling.sh

.PHONY: bench-go
bench-go: services test-tools ## Run the Go micro-benchmarks (go test -bench)
	$(test-env) $(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# How long `make fuzz` runs each fuzz target. Go fuzzes one target per
# `go test`, so they run one after the other; an input that fails is saved
# in the package's testdata/fuzz/<target>/ and runs with the tests from then on.
# The targets need Postgres and Redis, not the test tools.
FUZZTIME ?= 60s

.PHONY: fuzz
fuzz: services ## Fuzz the GraphQL endpoint and the Stripe webhook for FUZZTIME each (default 60s)
	$(test-env) $(GO) test -run '^$$' -fuzz '^FuzzGraphQLRequest$$' -fuzztime $(FUZZTIME) ./graph
	$(test-env) $(GO) test -run '^$$' -fuzz '^FuzzWebhook$$' -fuzztime $(FUZZTIME) ./internal/payments

.PHONY: clean
clean: ## Remove bin/ (the services' data in .data/ stays)
	rm -rf bin

# Tools. Each binary is a file target, so `make tools` is a no-op once they
# exist; the stamp named after the version makes a version bump rebuild it.

# versitygw takes a minute or two to build the first time; after that the
# file target is a no-op.
TEST_TOOLS := $(TOOLS_BIN)/mailpit $(TOOLS_BIN)/stripe-mock $(TOOLS_BIN)/versitygw

.PHONY: tools test-tools
tools: $(TEST_TOOLS) $(TOOLS_BIN)/staticcheck ## Install the pinned tools into bin/tools
test-tools: $(TEST_TOOLS)

# install-tool: binary name, package, module, version.
define install-tool
@if [ -n "$(REUSE_GOBIN)" ] && $(GO) version -m "$(REUSE_GOBIN)/$(1)" 2>/dev/null | \
		grep -Eq '^[[:space:]]+mod[[:space:]]+$(3)[[:space:]]+$(4)[[:space:]]'; then \
	echo "cp $(REUSE_GOBIN)/$(1) $@  # built from $(3)@$(4)"; \
	cp "$(REUSE_GOBIN)/$(1)" $@; \
else \
	echo "GOBIN=$(TOOLS_BIN) $(GO) install $(2)@$(4)"; \
	GOBIN=$(TOOLS_BIN) $(GO) install $(2)@$(4); \
fi
@touch $@
endef

$(TOOLS_BIN)/mailpit: $(TOOLS_BIN)/.mailpit-$(MAILPIT_VERSION)
	$(call install-tool,mailpit,github.com/axllent/mailpit,github.com/axllent/mailpit,$(MAILPIT_VERSION))

$(TOOLS_BIN)/stripe-mock: $(TOOLS_BIN)/.stripe-mock-$(STRIPE_MOCK_VERSION)
	$(call install-tool,stripe-mock,github.com/stripe/stripe-mock,github.com/stripe/stripe-mock,$(STRIPE_MOCK_VERSION))

$(TOOLS_BIN)/versitygw: $(TOOLS_BIN)/.versitygw-$(VERSITYGW_VERSION)
	$(call install-tool,versitygw,github.com/versity/versitygw/cmd/versitygw,github.com/versity/versitygw,$(VERSITYGW_VERSION))

$(TOOLS_BIN)/staticcheck: $(TOOLS_BIN)/.staticcheck-$(STATICCHECK_VERSION)
	$(call install-tool,staticcheck,honnef.co/go/tools/cmd/staticcheck,honnef.co/go/tools,$(STATICCHECK_VERSION))

$(TOOLS_BIN)/.%:
	@mkdir -p $(@D)
	@touch $@
