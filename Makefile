# Thin wrapper over meson/ninja for the README's commands.
BUILD      ?= build
TEST_BUILD ?= build-test

.PHONY: all setup build test unit e2e san demo clean

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --werror

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Unit tests run under AddressSanitizer and UBSan in their own build tree.
$(TEST_BUILD)/build.ninja:
	meson setup $(TEST_BUILD) --werror -Db_sanitize=address,undefined -Db_lundef=false

unit: $(TEST_BUILD)/build.ninja
	ninja -C $(TEST_BUILD)
	@bash scripts/run-tests.sh --unit-only

test: setup build $(TEST_BUILD)/build.ninja
	ninja -C $(TEST_BUILD)
	@bash scripts/run-tests.sh

e2e: setup build
	@bash scripts/run-tests.sh --e2e-only

# End-to-end tests against the sanitizer build (scripts/run-tests.sh: SAN_SKIP).
san: setup $(TEST_BUILD)/build.ninja
	ninja -C $(TEST_BUILD)
	@bash scripts/run-tests.sh --san-only

demo: setup build
	@bash scripts/demo.sh

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
