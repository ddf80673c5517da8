// A full disk for db::Store tests, without a hook in the production class: a
// SQLite VFS that wraps the default one (LevelDB's EnvWrapper idea, one layer
// down, where SQLite meets the file system) and, while `full` is set, fails
// every write that would grow a file with SQLITE_FULL, as ENOSPC does. Writes
// inside a file's current size, reads, locks and shared memory pass through.
// InstallFaultVfs() registers it as the default VFS, so every connection
// opened afterwards (a Store's included) goes through it. Test code only.
#ifndef LUTNAS_TESTS_FAULT_VFS_H_
#define LUTNAS_TESTS_FAULT_VFS_H_

#include <sqlite3.h>

#include <atomic>

namespace lutnas::fault {

class FaultVfs {
 public:
  // Registers it as the default VFS on first use; the same object afterwards.
  static FaultVfs& Install() {
    static FaultVfs* vfs = new FaultVfs();  // never destroyed: connections may outlive tests
    return *vfs;
  }
  void set_full(bool full) { full_ = full; }
  int refused_writes() const { return refused_; }

 private:
  struct File {
    sqlite3_file base;
    sqlite3_file* real;  // just after this struct, in the same allocation
  };

  FaultVfs() {
    real_ = sqlite3_vfs_find(nullptr);
    vfs_ = *real_;
    vfs_.zName = "lutnas-fault";
    vfs_.pAppData = this;
    vfs_.pNext = nullptr;
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
    vfs_.xOpen = &Open;
    vfs_.xDelete = [](sqlite3_vfs* v, const char* n, int s) { return Real(v)->xDelete(Real(v), n, s); };
    vfs_.xAccess = [](sqlite3_vfs* v, const char* n, int f, int* o) {
      return Real(v)->xAccess(Real(v), n, f, o);
    };
    vfs_.xFullPathname = [](sqlite3_vfs* v, const char* n, int sz, char* out) {
      return Real(v)->xFullPathname(Real(v), n, sz, out);
    };
    vfs_.xRandomness = [](sqlite3_vfs* v, int n, char* out) { return Real(v)->xRandomness(Real(v), n, out); };
    vfs_.xSleep = [](sqlite3_vfs* v, int us) { return Real(v)->xSleep(Real(v), us); };
    vfs_.xCurrentTime = [](sqlite3_vfs* v, double* t) { return Real(v)->xCurrentTime(Real(v), t); };
    vfs_.xGetLastError = [](sqlite3_vfs* v, int n, char* out) {
      return Real(v)->xGetLastError(Real(v), n, out);
    };
    if (vfs_.iVersion >= 2 && real_->xCurrentTimeInt64 != nullptr)
      vfs_.xCurrentTimeInt64 = [](sqlite3_vfs* v, sqlite3_int64* t) {
        return Real(v)->xCurrentTimeInt64(Real(v), t);
      };
    if (vfs_.iVersion >= 3) {
      vfs_.xSetSystemCall = nullptr;
      vfs_.xGetSystemCall = nullptr;
      vfs_.xNextSystemCall = nullptr;
    }
    vfs_.xDlOpen = nullptr;  // no extensions are loaded
    vfs_.xDlError = nullptr;
    vfs_.xDlSym = nullptr;
    vfs_.xDlClose = nullptr;
    sqlite3_vfs_register(&vfs_, /*makeDflt=*/1);
  }

  static FaultVfs* Self(sqlite3_vfs* v) { return static_cast<FaultVfs*>(v->pAppData); }
  static sqlite3_vfs* Real(sqlite3_vfs* v) { return Self(v)->real_; }
  static sqlite3_file* RealFile(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

  static int Open(sqlite3_vfs* v, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
    File* file = reinterpret_cast<File*>(f);
    file->real = reinterpret_cast<sqlite3_file*>(file + 1);
    const int rc = Real(v)->xOpen(Real(v), name, file->real, flags, out_flags);
    // When the real open set no methods there is nothing to close. Files
    // without shared memory (iVersion 1) get methods without it.
    const sqlite3_io_methods* m = file->real->pMethods;
    file->base.pMethods = m == nullptr       ? nullptr
                          : m->iVersion >= 3 ? &Self(v)->methods_
                                             : &Self(v)->methods_v1_;
    return rc;
  }

  static int Write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
    FaultVfs& self = Install();
    sqlite3_file* real = RealFile(f);
    if (self.full_) {
      sqlite3_int64 size = 0;
      if (real->pMethods->xFileSize(real, &size) == SQLITE_OK && offset + amount > size) {
        ++self.refused_;
        return SQLITE_FULL;
      }
    }
    return real->pMethods->xWrite(real, data, amount, offset);
  }

  static sqlite3_io_methods MakeMethods() {
    sqlite3_io_methods m{};
    m.iVersion = 3;
    m.xClose = [](sqlite3_file* f) { return RealFile(f)->pMethods->xClose(RealFile(f)); };
    m.xRead = [](sqlite3_file* f, void* d, int n, sqlite3_int64 o) {
      return RealFile(f)->pMethods->xRead(RealFile(f), d, n, o);
    };
    m.xWrite = &Write;
    m.xTruncate = [](sqlite3_file* f, sqlite3_int64 s) {
      return RealFile(f)->pMethods->xTruncate(RealFile(f), s);
    };
    m.xSync = [](sqlite3_file* f, int fl) { return RealFile(f)->pMethods->xSync(RealFile(f), fl); };
    m.xFileSize = [](sqlite3_file* f, sqlite3_int64* s) {
      return RealFile(f)->pMethods->xFileSize(RealFile(f), s);
    };
    m.xLock = [](sqlite3_file* f, int l) { return RealFile(f)->pMethods->xLock(RealFile(f), l); };
    m.xUnlock = [](sqlite3_file* f, int l) { return RealFile(f)->pMethods->xUnlock(RealFile(f), l); };
    m.xCheckReservedLock = [](sqlite3_file* f, int* r) {
      return RealFile(f)->pMethods->xCheckReservedLock(RealFile(f), r);
    };
    m.xFileControl = [](sqlite3_file* f, int op, void* a) {
      return RealFile(f)->pMethods->xFileControl(RealFile(f), op, a);
    };
    m.xSectorSize = [](sqlite3_file* f) { return RealFile(f)->pMethods->xSectorSize(RealFile(f)); };
    m.xDeviceCharacteristics = [](sqlite3_file* f) {
      return RealFile(f)->pMethods->xDeviceCharacteristics(RealFile(f));
    };
    m.xShmMap = [](sqlite3_file* f, int pg, int sz, int ext, void volatile** p) {
      return RealFile(f)->pMethods->xShmMap(RealFile(f), pg, sz, ext, p);
    };
    m.xShmLock = [](sqlite3_file* f, int o, int n, int fl) {
      return RealFile(f)->pMethods->xShmLock(RealFile(f), o, n, fl);
    };
    m.xShmBarrier = [](sqlite3_file* f) { RealFile(f)->pMethods->xShmBarrier(RealFile(f)); };
    m.xShmUnmap = [](sqlite3_file* f, int del) { return RealFile(f)->pMethods->xShmUnmap(RealFile(f), del); };
    m.xFetch = [](sqlite3_file* f, sqlite3_int64 o, int n, void** p) {
      return RealFile(f)->pMethods->xFetch(RealFile(f), o, n, p);
    };
    m.xUnfetch = [](sqlite3_file* f, sqlite3_int64 o, void* p) {
      return RealFile(f)->pMethods->xUnfetch(RealFile(f), o, p);
    };
    return m;
  }

  sqlite3_vfs* real_;
  sqlite3_vfs vfs_;
  sqlite3_io_methods methods_ = MakeMethods();
  sqlite3_io_methods methods_v1_ = [this] {
    sqlite3_io_methods m = methods_;
    m.iVersion = 1;
    return m;
  }();
  std::atomic<bool> full_{false};
  std::atomic<int> refused_{0};
};

}  // namespace lutnas::fault

#endif  // LUTNAS_TESTS_FAULT_VFS_H_
