"""Domain errors raised by command and query handlers; the HTTP edge maps them to statuses."""


class DomainError(Exception):
    """Base of every error a handler raises on purpose."""


class InvalidField(DomainError, ValueError):
    """A value breaks a rule. The message starts with the field's name, because msgspec keeps
    only the message when this is raised while decoding a request body."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TaskNotFound(DomainError):
    """No task with this id belongs to the acting user (whether or not it exists)."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} not found")
        self.task_id = task_id
