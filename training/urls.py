"""Training pages (namespace training:)."""

from django.urls import path

from training import views, views_train

app_name = "training"

urlpatterns = [
    path("projects/<int:project_id>/runs/", views.run_list, name="run-list"),
    path("projects/<int:project_id>/models/", views.model_list, name="model-list"),
    path("projects/<int:project_id>/generate/", views.generate_round, name="generate-round"),
    path("runs/<int:run_id>/", views.run_detail, name="run-detail"),
    path("runs/<int:run_id>/cancel/", views.run_cancel_view, name="run-cancel"),
    path("models/<int:version_id>/", views.model_detail, name="model-detail"),
    path("models/<int:version_id>/promote/", views.model_promote_view, name="model-promote"),
    path("models/<int:version_id>/rollback/", views.model_rollback_view, name="model-rollback"),
    path("projects/<int:project_id>/train/", views_train.train_now, name="train-now"),
    path("projects/<int:project_id>/schedules/", views_train.schedule_list, name="schedule-list"),
    path("schedules/<int:schedule_id>/", views_train.schedule_edit, name="schedule-edit"),
    path("schedules/<int:schedule_id>/toggle/", views_train.schedule_toggle, name="schedule-toggle"),
    path("schedules/<int:schedule_id>/fire/", views_train.schedule_fire_now, name="schedule-fire"),
]
