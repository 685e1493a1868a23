"""What a traffic run sent and what the logs must show for it (`traffic.json`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TrafficRecord(BaseModel):
    """One request of the traffic run and what the logs must show for it."""

    name: str
    description: str
    service: str = Field(..., description="the service the client called first")
    method: str
    path: str
    sent_global_request_id: str | None = Field(None, description="X-OpenStack-Request-ID we sent")
    sent_header: str | None = Field(None, description="the raw header value, also when invalid")
    local_request_id: str | None = Field(None, description="x-openstack-request-id returned")
    status: int | str
    expected_status: int | str
    services: list[str] = Field(default_factory=list, description="services that must log this request")
    failing_service: str | None = None
    exception: str | None = Field(
        None, description="exception class the failing service's log names (None: the log names none)"
    )
    resource_id: str | None = Field(None, description="what the request created (a server's uuid)")
    final_state: str | None = Field(None, description="the created server's last status (ACTIVE, ERROR)")
    retried_global_request_ids: list[str] = Field(
        default_factory=list, description="earlier attempts of this create that stayed in BUILD"
    )
    expected_final_state: str | None = None
    caused_by: str | None = Field(
        None, description="the earlier record whose failure this one only shows (a two-step failure)"
    )


class TrafficReport(BaseModel):
    lab: str
    requests: list[TrafficRecord]

    def by_name(self, name: str) -> TrafficRecord:
        for record in self.requests:
            if record.name == name:
                return record
        raise KeyError(name)
