"""Training API: models (list, detail, promote, roll back) and runs (create, list, detail, cancel).

Every object is looked up within the caller's projects (404 otherwise); writes need a manager (403).
Errors share labeling's shape: {"detail": "...", "errors": [{"field", "message"}]}.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.access import project_get_for_member, require_manager
from labeling.models import DatasetSnapshot, Project
from labeling.serializers import ErrorSerializer
from training import selectors
from training.kinds import StartedBy, kind_spec, train_now_kinds
from training.models import ModelVersion, RunKind
from training.selectors import PromptChoice
from training.serializers import (
    MetricPointSerializer,
    ModelVersionSerializer,
    RunCreateSerializer,
    RunDetailSerializer,
    RunSerializer,
)
from training.services.distributed import accelerate_config_resolve
from training.services.generation import generation_round_start
from training.services.registry import model_promote, model_rollback
from training.services.resume import run_resume
from training.services.runs import ActiveRunExists, run_cancel, run_create
from training.services.triggers import TrainRequest, train_start

ERROR = OpenApiResponse(ErrorSerializer, description="Refused; `errors` names the field.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such object, or not a member of its project.")


def validation_response(exc: ValidationError, code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    """Turn a service's ValidationError into the API's error shape."""
    errors = [
        {"field": field, "message": message}
        for field, messages in getattr(exc, "message_dict", {"non_field_errors": exc.messages}).items()
        for message in messages
    ]
    return Response({"detail": "; ".join(e["message"] for e in errors), "errors": errors}, status=code)


class MetricPagination(LimitOffsetPagination):
    default_limit = 500
    max_limit = 1000


def _current_ids(project: Project) -> set[int]:
    pointers = selectors.project_pointers(project)
    return {i for i in (pointers.policy_id, pointers.reward_id) if i}


class ModelListApi(generics.ListAPIView):
    serializer_class = ModelVersionSerializer

    @extend_schema(
        parameters=[OpenApiParameter("project", int, description="Only this project's models"), OpenApiParameter("kind", str)],
        summary="Registered models in your projects, newest first",
    )
    def get(self, request: Request, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        versions = selectors.model_versions_for_user(self.request.user).order_by("-id")
        project_id = self.request.query_params.get("project")
        if project_id:
            versions = versions.filter(project=project_get_for_member(self.request.user, project_id))
        kind = self.request.query_params.get("kind")
        return versions.filter(kind=kind) if kind else versions

    def get_serializer_context(self):  # type: ignore[no-untyped-def]
        return {**super().get_serializer_context(), "current_ids": selectors.current_model_ids(self.request.user)}


class ModelDetailApi(APIView):
    @extend_schema(responses={200: ModelVersionSerializer, 404: NOT_FOUND}, summary="One registered model")
    def get(self, request: Request, pk: int) -> Response:
        version = selectors.model_version_get_for_member(request.user, pk)
        return Response(ModelVersionSerializer(version, context={"request": request, "current_ids": _current_ids(version.project)}).data)


class ModelPromoteApi(APIView):
    service = staticmethod(model_promote)

    @extend_schema(request=None, responses={200: ModelVersionSerializer, 400: ERROR, 403: ERROR, 404: NOT_FOUND},
                   summary="Make this version the project's current policy / reward model (managers)")
    def post(self, request: Request, pk: int) -> Response:
        version = selectors.model_version_get_for_member(request.user, pk)
        require_manager(request.user, version.project)
        try:
            type(self).service(version=version)
        except ValidationError as exc:
            return validation_response(exc)
        return Response(ModelVersionSerializer(version, context={"request": request, "current_ids": _current_ids(version.project)}).data)


class ModelRollbackApi(ModelPromoteApi):
    service = staticmethod(model_rollback)


def _snapshot(project: Project, snapshot_id: int | None) -> DatasetSnapshot | None:
    if snapshot_id is None:
        return None
    found = DatasetSnapshot.objects.filter(pk=snapshot_id, project=project).first()
    if found is None:
        raise ValidationError({"snapshot": f"no snapshot {snapshot_id} in this project"})
    return found


def _train_request(project: Project, data: dict) -> TrainRequest:
    """Turn the create-run payload into a TrainRequest (snapshot or fresh-snapshot filters, base model)."""
    base = None
    if data.get("base") is not None:
        base = ModelVersion.objects.filter(pk=data["base"], project=project).first()
        if base is None:
            raise ValidationError({"base": f"no model {data['base']} in this project"})
    snapshot_id = data.get("snapshot") if data.get("snapshot") is not None else data.get("snapshot_id")
    prompts = data.get("prompts")
    return TrainRequest(
        kind=data["kind"], config=data["config"], snapshot=_snapshot(project, snapshot_id),
        snapshot_params=data.get("snapshot_params"), base=base, prompts=dict(prompts) if prompts else None, nproc=data["nproc"],
        inputs=_accelerate_inputs(data),
    )


def _accelerate_inputs(data: dict) -> dict[str, str]:
    """The run's accelerate config (a checked name resolved to its file), if it asks for one."""
    name = data.get("accelerate_config") or ""
    return {"accelerate_config": accelerate_config_resolve(name), "accelerate_config_name": name} if name else {}


def _generate_choice(prompts: dict | None) -> dict[str, str]:
    """Turn a generate run's prompt selection into generation_round_start's arguments."""
    prompts = {k: v for k, v in (prompts or {}).items() if v is not None}
    if "exclude_snapshot_test" in prompts:
        raise ValidationError({"prompts.exclude_snapshot_test": "applies to ppo, rloo, grpo and evaluate runs, not generate"})
    return {"which": prompts.get("which", PromptChoice.GENERATE_DEFAULT), "tag": prompts.get("tag", "")}


class ProjectRunListApi(generics.ListAPIView):
    serializer_class = RunSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.runs_for_project(project_get_for_member(self.request.user, self.kwargs["pk"]))

    @extend_schema(summary="A project's runs, newest first")
    def get(self, request: Request, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        return super().get(request, *args, **kwargs)

    @extend_schema(request=RunCreateSerializer, responses={201: RunDetailSerializer, 400: ERROR, 403: ERROR, 404: NOT_FOUND, 409: ERROR},
                   summary="Start a run (managers); 409 when one of that kind is already active")
    def post(self, request: Request, pk: int) -> Response:
        project = project_get_for_member(request.user, pk)
        require_manager(request.user, project)
        form = RunCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        spec = kind_spec(data["kind"])
        if spec is not None and spec.started_by == StartedBy.STAFF and not request.user.is_staff:
            raise PermissionDenied(f"a {data['kind']} run is started by staff (manage.py), not by a project manager")
        try:
            if data["kind"] == RunKind.GENERATE:
                run = generation_round_start(
                    project=project, user=request.user, config=data["config"], **_generate_choice(data.get("prompts"))
                )
            elif data["kind"] in train_now_kinds():
                run = train_start(project=project, request=_train_request(project, data), user=request.user)
            else:
                run = run_create(project=project, kind=data["kind"], config=data["config"], user=request.user,
                                 snapshot=_snapshot(project, data.get("snapshot")), nproc=data["nproc"])
        except ActiveRunExists as exc:
            return validation_response(exc, code=status.HTTP_409_CONFLICT)
        except ValidationError as exc:
            return validation_response(exc)
        return Response(RunDetailSerializer(run, context={"request": request}).data, status=status.HTTP_201_CREATED)


class RunDetailApi(APIView):
    @extend_schema(responses={200: RunDetailSerializer, 404: NOT_FOUND}, summary="A run: status, progress, latest metrics, error")
    def get(self, request: Request, pk: int) -> Response:
        return Response(RunDetailSerializer(selectors.run_get_for_member(request.user, pk), context={"request": request}).data)


class RunMetricsApi(generics.ListAPIView):
    """A run's metric history, oldest first, paginated (limit/offset; at most 1000 per page)."""

    serializer_class = MetricPointSerializer
    pagination_class = MetricPagination

    def get_queryset(self):  # type: ignore[no-untyped-def]
        run = selectors.run_get_for_member(self.request.user, self.kwargs["pk"])
        return selectors.run_metric_points(run, name=self.request.query_params.get("name") or None)

    @extend_schema(
        parameters=[OpenApiParameter("name", str, description="Only the points that logged this metric, with only it")],
        responses={200: MetricPointSerializer(many=True), 404: NOT_FOUND},
        summary="A run's metric history (every metrics.jsonl line the runner stored), oldest first",
    )
    def get(self, request: Request, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        return super().get(request, *args, **kwargs)


class RunCancelApi(APIView):
    @extend_schema(request=None, responses={200: RunDetailSerializer, 403: ERROR, 404: NOT_FOUND},
                   summary="Cancel a run (managers): queued ends now, running gets SIGTERM then SIGKILL")
    def post(self, request: Request, pk: int) -> Response:
        run = selectors.run_get_for_member(request.user, pk)
        require_manager(request.user, run.project)
        return Response(RunDetailSerializer(run_cancel(run=run), context={"request": request}).data)


class RunResumeApi(APIView):
    @extend_schema(request=None, responses={200: RunDetailSerializer, 400: ERROR, 403: ERROR, 404: NOT_FOUND, 409: ERROR},
                   summary="Resume a failed or cancelled run from its last complete checkpoint (managers)")
    def post(self, request: Request, pk: int) -> Response:
        run = selectors.run_get_for_member(request.user, pk)
        require_manager(request.user, run.project)
        try:
            run = run_resume(run=run)
        except ActiveRunExists as exc:
            return validation_response(exc, code=status.HTTP_409_CONFLICT)
        except ValidationError as exc:
            return validation_response(exc)
        return Response(RunDetailSerializer(run, context={"request": request}).data)
