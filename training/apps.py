from django.apps import AppConfig


class TrainingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        """Wire training into labeling and the task queue (labeling never imports training)."""
        from labeling.hooks import project_panel_register
        from training.admin import project_admin_actions_install
        from training.services.runs import RunQueue
        from training.tasks import run_enqueue
        from training.views.loop import PROJECT_LOOP_PANEL

        RunQueue.register(run_enqueue)
        project_panel_register(PROJECT_LOOP_PANEL)
        project_admin_actions_install()
