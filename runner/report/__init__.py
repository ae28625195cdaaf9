"""The luck report of one job: statistics across its seeds (`luck`), and the forms it takes:
terminal text (`text`), the parent run's markdown (`markdown`), the run folder's tables
(`tables`) and plots (`plots`)."""
