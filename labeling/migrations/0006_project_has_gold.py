from django.db import migrations, models


def mark_projects_with_gold(apps, schema_editor):
    Project = apps.get_model("labeling", "Project")
    Comparison = apps.get_model("labeling", "Comparison")
    with_gold = Comparison.objects.filter(gold_response__isnull=False).values("project_id")
    Project.objects.filter(pk__in=with_gold).update(has_gold=True)


class Migration(migrations.Migration):

    dependencies = [
        ("labeling", "0005_response_flags"),
    ]

    operations = [
        migrations.AddField(
            model_name="project",
            name="has_gold",
            field=models.BooleanField(default=False, editable=False, help_text="Set when a gold comparison is imported."),
        ),
        migrations.RunPython(mark_projects_with_gold, migrations.RunPython.noop),
    ]
