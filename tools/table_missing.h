// lutnas-profile table --arch A.json [B.json...] (--server HOST:PORT |
// --table OLD --out NEW): measure exactly the keys those architectures need
// that the stored table lacks, and store old + new entries as a new table
// version (or file). The new entries are scaled to the old table's
// reference workload time (docs/measurement.md), so both halves are in one
// time unit. Links torch (profiler) and grpc (upload/download).
#ifndef LUTNAS_TOOLS_TABLE_MISSING_H_
#define LUTNAS_TOOLS_TABLE_MISSING_H_

namespace lutnas::tools {

// argv as given to lutnas-profile ("table", "--arch", ...). Exit status:
// 0 done (or nothing missing), 1 failed, 2 bad arguments or input.
int TableForArchsMain(int argc, char** argv);

}  // namespace lutnas::tools

#endif  // LUTNAS_TOOLS_TABLE_MISSING_H_
