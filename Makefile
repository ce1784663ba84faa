# Entry points; each target is a script in scripts/ so CI and people run the same thing.
.PHONY: build test validate

# The five arm64 bootstraps in .aws-sam/build/ (sam build with cargo-lambda and zig from ./.venv).
build:
	./scripts/build

# Every check and test, as CI runs them.
test:
	./scripts/test

# cfn-lint and sam validate --lint on template.yaml (offline).
validate:
	./scripts/validate
