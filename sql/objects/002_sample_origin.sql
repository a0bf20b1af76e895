-- sample.image_origin is looked up by garbage collection: an image origin in
-- the result store is deleted only when no remaining sample names it.

ALTER TABLE sample
  ADD KEY IF NOT EXISTS sample_origin (image_origin);
