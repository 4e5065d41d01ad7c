"""See statclock_airflow.ui: the api routes."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
