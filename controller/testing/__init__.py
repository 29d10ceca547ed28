"""Running the controller from tests: `ControllerHarness` (any test runner) and the pytest plugin."""

from controller.testing.harness import ControllerHarness, EnrolledIdentity

__all__ = ["ControllerHarness", "EnrolledIdentity"]
