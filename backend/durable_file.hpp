#pragma once
// A small file replaced whole and durably (state kept next to a LUN's data: persistent
// reservations, the LUN's identity): written to PATH.tmp, synced, renamed over PATH, and the
// folder synced, so after a crash PATH holds either the old or the new contents, never a part.

#include <string>

namespace atsarray::backend {

// Returns 0, or the errno of the step that failed (PATH is then unchanged).
int write_file_durably(const std::string& path, const std::string& contents);
// Removes PATH and syncs its folder, so the removal survives a crash. 0 also when PATH was not
// there; otherwise the errno of the step that failed.
int remove_file_durably(const std::string& path);

}  // namespace atsarray::backend
