#pragma once
// Where atsarrayctl's access token comes from: --token, --token-file, ATSARRAY_TOKEN,
// ATSARRAY_TOKEN_FILE, in that order (none: on a loopback console the client asks
// GET /api/v1/session-token as the console's own page does).

#include <string>

namespace atsarray::ctl {

// The token, or "" when none was given. Throws UsageError for a token file that cannot be read,
// is empty, or is readable by group or others (refused, as ssh refuses such a key).
std::string resolve_token(const std::string& token_option, const std::string& token_file_option);

// The token in `path` (its first line); throws UsageError as above.
std::string read_token_file(const std::string& path);

}  // namespace atsarray::ctl
