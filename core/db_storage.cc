#include "core/db_storage.h"

namespace lutnas::core {

absl::Status DbStorage::PutHardware(const v1::Hardware& hw, bool update) {
  return store_->PutHardware(hw, update);
}

absl::StatusOr<v1::Hardware> DbStorage::GetHardware(const std::string& name) {
  return store_->GetHardware(name);
}

absl::StatusOr<std::vector<v1::Hardware>> DbStorage::ListHardware() { return store_->ListHardware(); }

absl::StatusOr<v1::LatencyTable> DbStorage::GetTable(const std::string& hardware, int64_t version) {
  return store_->GetTable(hardware, version);
}

absl::StatusOr<v1::TableInfo> DbStorage::GetTableInfo(const std::string& hardware, int64_t version) {
  return store_->GetTableInfo(hardware, version);
}

absl::StatusOr<int64_t> DbStorage::CreateJob(const v1::SearchSpec& spec) { return store_->CreateJob(spec); }

absl::StatusOr<int64_t> DbStorage::CreateJobForRequest(const v1::SearchSpec& spec,
                                                       const std::string& request_id,
                                                       const v1::SearchSpec& request_spec) {
  return store_->CreateJobForRequest(spec, request_id, request_spec);
}

absl::StatusOr<std::pair<int64_t, v1::SearchSpec>> DbStorage::FindRequest(const std::string& request_id) {
  return store_->FindRequest(request_id);
}

absl::StatusOr<v1::Job> DbStorage::GetJob(int64_t id) { return store_->GetJob(id); }

absl::Status DbStorage::UpdateJob(int64_t id, v1::JobState state, const std::string& error,
                                  const v1::Progress& progress) {
  return store_->UpdateJob(id, state, error, progress);
}

absl::StatusOr<std::vector<int64_t>> DbStorage::JobsInState(v1::JobState state) {
  return store_->JobsInState(state);
}

absl::Status DbStorage::CommitGeneration(int64_t job_id, const std::string& checkpoint,
                                         const std::vector<v1::Candidate>& candidates,
                                         const std::vector<std::string>& pareto_hashes,
                                         const v1::Progress& progress) {
  return store_->CommitGeneration(job_id, checkpoint, candidates, pareto_hashes, progress);
}

absl::StatusOr<std::string> DbStorage::LoadCheckpoint(int64_t job_id) {
  return store_->LoadCheckpoint(job_id);
}

absl::Status DbStorage::DeleteHardware(const std::string& name) { return store_->DeleteHardware(name); }

absl::StatusOr<v1::TableInfo> DbStorage::AddTable(const v1::LatencyTable& table) {
  return store_->AddTable(table);
}

absl::StatusOr<std::vector<v1::TableInfo>> DbStorage::ListTables(const std::string& hardware) {
  return store_->ListTables(hardware);
}

absl::StatusOr<v1::TableInfo> DbStorage::SetCorrection(const std::string& hardware, int64_t version,
                                                       const v1::Correction& c) {
  return store_->SetCorrection(hardware, version, c);
}

absl::StatusOr<std::vector<v1::Job>> DbStorage::ListJobs() { return store_->ListJobs(); }

absl::StatusOr<CandidatePage> DbStorage::ListCandidates(const v1::ListCandidatesRequest& req) {
  auto page = store_->ListCandidates(req);
  if (!page.ok()) return page.status();
  CandidatePage out;
  out.candidates = std::move(page->candidates);
  out.next_page_token = std::move(page->next_page_token);
  out.total = page->total;
  return out;
}

absl::StatusOr<v1::Candidate> DbStorage::GetCandidate(int64_t id) { return store_->GetCandidate(id); }

}  // namespace lutnas::core
