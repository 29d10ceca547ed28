"""A simulated edge router: erott enrollment over REST and a control-channel client that renews its two
certificates the way a real router's certificate checker does (control-channel.md §5)."""

from controller.router_agent.agent import ReEnrollmentNeeded, RouterAgent
from controller.router_agent.enroll import enroll_router
from controller.router_agent.files import RouterFiles

__all__ = ["ReEnrollmentNeeded", "RouterAgent", "RouterFiles", "enroll_router"]
