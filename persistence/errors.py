"""Domain errors raised by command and query handlers; the HTTP edge maps them to statuses."""


class DomainError(Exception):
    """Base of every error a handler raises on purpose."""


class TaskNotFound(DomainError):
    """No task with this id belongs to the acting user (whether or not it exists)."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} not found")
        self.task_id = task_id
