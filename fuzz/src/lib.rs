//! AFL++ fuzz targets of zhibu; one binary per target under `src/bin/`.
