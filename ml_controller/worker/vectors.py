"""What the worker does with the vector store: name a finished meeting's speakers by voice and
index it, answer search calls, and apply the API's vector commands.

Everything here is blocking (embedding, Qdrant) and runs in a worker thread. The store is one
per process and locks itself; every call carries the tenant of the job, request or command.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import numpy as np

from core.contracts import (
    DeleteMeetingVectors,
    DeletePerson,
    EnrollSpeaker,
    ForgetSpeaker,
    MergePersons,
    ProcessMeetingJob,
    ProposedSpeaker,
    SearchHitMsg,
    SearchReply,
    SpeakerMatches,
    VectorCommand,
    parse_search_request,
)
from core.results import MeetingResult
from ml_controller.speakers.naming import NamingParams, name_speakers, naming_for
from ml_controller.speakers.proposals import best_per_meeting
from ml_controller.types import PipelineOutput
from ml_controller.vectors import SearchQuery, VectorStore

log = logging.getLogger(__name__)


class VectorStepError(RuntimeError):
    """Naming or indexing a finished meeting failed (the vector store is unreachable)."""


@dataclass(frozen=True)
class NamedMeeting:
    result: MeetingResult  # person ids set on recognised speakers
    named: int
    indexed_points: int


class MeetingVectors:
    def __init__(self, store: VectorStore, naming: NamingParams | None = None) -> None:
        self.store = store
        # None: the parameters calibrated for the embedder that made the meeting's voiceprints.
        self.naming = naming

    def name_and_index(self, job: ProcessMeetingJob, output: PipelineOutput) -> NamedMeeting:
        """Recognise enrolled persons among the speakers, keep this meeting's voiceprints for
        later naming, and index its passages for search. Returns the result to publish."""
        tenant, meeting = str(job.tenant_id), str(job.meeting_id)
        result, prints = output.result, output.voiceprints
        try:
            voices = {
                label: np.asarray(vector, dtype=np.float32)
                for label, vector in prints.vectors.items()
            }
            schema = prints.embedding_schema
            enrolled = self.store.enrolled_voices(tenant, schema)
            params = self.naming or naming_for(schema)
            matches = name_speakers(voices, enrolled, params, schema=schema)
            stale = self.store.stale_voiceprints(tenant, schema) if voices else 0
            if stale:
                log.warning(
                    "meeting %s: %d named voiceprints of this tenant were made by an older "
                    "speaker embedder and are not compared with %s ones; name those people "
                    "again in a new meeting to have them recognised",
                    meeting,
                    stale,
                    schema or "legacy",
                )
            persons = {m.label: m.person_id for m in matches if m.person_id is not None}
            speakers = [
                s.model_copy(update={"person_id": persons.get(s.id)}) for s in result.speakers
            ]
            named = result.model_copy(
                update={
                    "speakers": speakers,
                    "speaker_embedding_schema": schema or result.speaker_embedding_schema,
                }
            )
            # Stored unassigned: only a person's own naming (an enroll command) makes a voice
            # theirs, so a wrong automatic match never reinforces itself.
            self.store.add_voiceprints(
                tenant, meeting, prints.vectors, dict.fromkeys(prints.vectors), schema
            )
            stats = self.store.index_meeting(tenant, meeting, named, job.meeting_date)
        except Exception as exc:
            raise VectorStepError(f"naming or indexing the meeting failed: {exc}") from exc
        log.info(
            "meeting %s: %d of %d speakers recognised, %d passages indexed in %.2f s",
            meeting,
            len(persons),
            len(result.speakers),
            stats.points,
            stats.seconds,
        )
        return NamedMeeting(named, len(persons), stats.points)

    def search(self, body: bytes) -> bytes:
        """The search RPC: a SearchRequest in, a SearchReply out (JSON bytes)."""
        request = parse_search_request(body)
        hits = self.store.search(
            SearchQuery(
                tenant_id=str(request.tenant_id),
                text=request.query,
                limit=request.limit,
                meeting_ids=[str(m) for m in request.meeting_ids]
                if request.meeting_ids is not None
                else None,
                speaker=request.speaker,
                person_id=str(request.person_id) if request.person_id else None,
                date_from=request.date_from,
                date_to=request.date_to,
            )
        )
        reply = SearchReply(
            hits=[
                SearchHitMsg(
                    meeting_id=uuid.UUID(hit.meeting_id),
                    start=hit.start,
                    end=hit.end,
                    speaker=hit.speaker,
                    text=hit.text,
                    score=hit.score,
                    kind=hit.kind,
                )
                for hit in hits
            ]
        )
        return reply.model_dump_json().encode()

    def apply(self, command: VectorCommand) -> SpeakerMatches | None:
        """Apply one command; applying it again changes nothing more. An enrolment returns the
        speakers of other meetings that sound like the person, for the API to propose."""
        tenant = str(command.tenant_id)
        matches: SpeakerMatches | None = None
        if isinstance(command, EnrollSpeaker):
            if self.store.enroll(
                tenant, str(command.meeting_id), command.label, str(command.person_id)
            ):
                matches = self.matches_for(command)
            else:
                log.warning(
                    "no voiceprint of %s in meeting %s to enroll", command.label, command.meeting_id
                )
        elif isinstance(command, ForgetSpeaker):
            self.store.forget_speaker(tenant, str(command.meeting_id), command.label)
        elif isinstance(command, MergePersons):
            self.store.merge_persons(tenant, str(command.source_id), str(command.target_id))
        elif isinstance(command, DeletePerson):
            self.store.delete_person(tenant, str(command.person_id))
        elif isinstance(command, DeleteMeetingVectors):
            self.store.delete_meeting(tenant, str(command.meeting_id))
        log.info("applied %s for tenant %s", command.kind, tenant)
        return matches

    def matches_for(self, command: EnrollSpeaker) -> SpeakerMatches | None:
        """The tenant's speakers in other meetings whose voice is the enrolled one's (same
        schema, at least its calibrated threshold); None when there are none."""
        tenant, meeting = str(command.tenant_id), str(command.meeting_id)
        found = self.store.voiceprint_of(tenant, meeting, command.label)
        if found is None:
            return None
        schema, vector = found
        threshold = (self.naming or naming_for(schema)).threshold
        hits = self.store.similar_voices(tenant, schema, vector, exclude_meeting=meeting)
        proposed = [
            ProposedSpeaker(meeting_id=meeting_id, label=h.label, score=h.score)
            for h in best_per_meeting(hits, threshold)
            if (meeting_id := _meeting_uuid(h.meeting_id)) is not None
        ]
        log.info(
            "enrolled %s of meeting %s: %d meetings to propose",
            command.label,
            meeting,
            len(proposed),
        )
        if not proposed:
            return None  # nothing to tell the API
        return SpeakerMatches(
            tenant_id=command.tenant_id,
            person_id=command.person_id,
            meeting_id=command.meeting_id,
            label=command.label,
            matches=proposed,
        )


def _meeting_uuid(value: str) -> uuid.UUID | None:
    # Meetings of the API are UUIDs; a print stored under anything else has no meeting to name.
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
