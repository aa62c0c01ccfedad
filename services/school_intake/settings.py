from shared.settings import ServiceSettings


class SchoolIntakeSettings(ServiceSettings):
    service_name: str = "school_intake"
    mongodb_database: str = "velkommen_school_intake"
    port: int = 8003
    # A unit is mailed about a new task only while the task is this young: a replay of old arrival events
    # (a reset consumer group) must not mail about tasks that were announced long ago.
    task_notification_window_hours: float = 24.0
    # How often the reminder job runs (overdue tasks, escalations, offers: services/school_intake/reminders.py).
    reminder_check_seconds: float = 300.0
    # How often the waiting lines' numbers are published to the families, and how the job learns of the lines
    # (services/school_intake/waitlist.py): what changed since its last read, reaching this much further back,
    # and every waitlisted task at start and this often.
    waitlist_positions_seconds: float = 5.0
    waitlist_changes_overlap_seconds: float = 10.0
    waitlist_whole_read_seconds: float = 600.0
