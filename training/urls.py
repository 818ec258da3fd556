"""Training pages (namespace training:)."""

from django.urls import path

from training.views import generate, models, runs, schedules, train

app_name = "training"

urlpatterns = [
    path("projects/<int:project_id>/runs/", runs.run_list, name="run-list"),
    path("projects/<int:project_id>/models/", models.model_list, name="model-list"),
    path("projects/<int:project_id>/generate/", generate.generate_round, name="generate-round"),
    path("runs/<int:run_id>/", runs.run_detail, name="run-detail"),
    path("runs/<int:run_id>/cancel/", runs.run_cancel_view, name="run-cancel"),
    path("runs/<int:run_id>/rerun/", runs.run_rerun_view, name="run-rerun"),
    path("runs/<int:run_id>/resume/", runs.run_resume_view, name="run-resume"),
    path("models/<int:version_id>/", models.model_detail, name="model-detail"),
    path("models/<int:version_id>/promote/", models.model_promote_view, name="model-promote"),
    path("models/<int:version_id>/rollback/", models.model_rollback_view, name="model-rollback"),
    path("projects/<int:project_id>/train/", train.train_now, name="train-now"),
    path("projects/<int:project_id>/schedules/", schedules.schedule_list, name="schedule-list"),
    path("schedules/<int:schedule_id>/", schedules.schedule_edit, name="schedule-edit"),
    path("schedules/<int:schedule_id>/toggle/", schedules.schedule_toggle, name="schedule-toggle"),
    path("schedules/<int:schedule_id>/fire/", schedules.schedule_fire_now, name="schedule-fire"),
]
