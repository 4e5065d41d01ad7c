"""See statclock_airflow.ui: the writes routes."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
