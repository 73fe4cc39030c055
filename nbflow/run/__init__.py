"""Running a flow: the runner (notebook -> run record -> scheduler -> run end), the scheduler
(task attempts in DAG order, N at once), resume, and CPU slots. Emits RunEvents to listeners."""
