"""See statclock_airflow.ui: the pages routes."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
