// SHA-256 of a file (FIPS 180-4), for checking a preset's files against preset.json.
#pragma once

#include <string>

namespace vs {

// Lower-case hex digest of the file's bytes; empty with `error` set when it cannot be read.
std::string sha256_file(const std::string& path, std::string& error);

}  // namespace vs
