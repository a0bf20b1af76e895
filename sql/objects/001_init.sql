-- Local objects database (luna_objects): faces, lists, attributes, events,
-- descriptors and sample references, mirroring the LUNA data model so that
-- every filter and report column of the spec has a column to read.
-- Workload: bulk imports (100k+ rows), filtered scans of up to a few
-- million rows by the tasks, keyset pagination by id.
-- Ids are lowercase UUID text compared byte-wise (ascii_bin), so id ranges
-- (face_id__gte / face_id__lt) are plain range scans. Times are UTC DATETIME(6).

CREATE TABLE IF NOT EXISTS face (
  face_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  account_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  event_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  attribute_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  user_data VARCHAR(128) NOT NULL DEFAULT '',
  external_id VARCHAR(36) NOT NULL DEFAULT '',
  avatar VARCHAR(256) NOT NULL DEFAULT '',
  create_time DATETIME(6) NOT NULL,
  KEY face_account (account_id, face_id),
  KEY face_account_time (account_id, create_time),
  KEY face_external (account_id, external_id),
  KEY face_user_data (account_id, user_data),
  KEY face_event (event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS list (
  list_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  account_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_data VARCHAR(128) NOT NULL DEFAULT '',
  create_time DATETIME(6) NOT NULL,
  KEY list_account (account_id, create_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS list_face (
  list_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  face_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  link_time DATETIME(6) NOT NULL,
  PRIMARY KEY (list_id, face_id),
  KEY list_face_face (face_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Attributes: basic attributes and descriptors of a face image. face_id is
-- set when the attribute belongs to a face (temporary attributes have none).
CREATE TABLE IF NOT EXISTS attribute (
  attribute_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  account_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  face_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  create_time DATETIME(6) NOT NULL,
  age SMALLINT NULL,
  gender TINYINT NULL,
  ethnicity TINYINT NULL,
  KEY attribute_account (account_id, attribute_id),
  KEY attribute_face (face_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Descriptors: owner_kind 1 face, 2 attribute, 3 event, descriptor_type
-- 1 face, 2 body, vector = little-endian float32, L2-normalised.
CREATE TABLE IF NOT EXISTS descriptor (
  owner_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  descriptor_type TINYINT NOT NULL,
  descriptor_version INT NOT NULL,
  owner_kind TINYINT NOT NULL,
  account_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  vector BLOB NOT NULL,
  PRIMARY KEY (owner_id, descriptor_type, descriptor_version),
  KEY descriptor_gc (account_id, owner_kind, descriptor_version, descriptor_type, owner_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Sample images (the bytes live in the result store under sample_id).
CREATE TABLE IF NOT EXISTS sample (
  sample_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  owner_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner_kind TINYINT NOT NULL,
  sample_type TINYINT NOT NULL,
  image_origin VARCHAR(256) NULL,
  KEY sample_owner (owner_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS event (
  event_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  account_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  create_time DATETIME(6) NOT NULL,
  end_time DATETIME(6) NOT NULL,
  insert_time DATETIME(6) NOT NULL,
  handler_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  external_id VARCHAR(36) NOT NULL DEFAULT '',
  source VARCHAR(128) NULL,
  user_data VARCHAR(128) NOT NULL DEFAULT '',
  face_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  track_id VARCHAR(36) NULL,
  gender TINYINT NULL,
  age SMALLINT NULL,
  emotion TINYINT NULL,
  ethnic_group TINYINT NULL,
  mask TINYINT NULL,
  liveness TINYINT NULL,
  city VARCHAR(36) NULL,
  area VARCHAR(36) NULL,
  district VARCHAR(36) NULL,
  street VARCHAR(36) NULL,
  house_number VARCHAR(36) NULL,
  longitude DOUBLE NULL,
  latitude DOUBLE NULL,
  -- The overall top match, flattened for the top_similar_* filters.
  top_similar_object_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  top_similar_external_id VARCHAR(36) NULL,
  top_similar_object_similarity DOUBLE NULL,
  -- JSON documents as the API shows them (reports and exports).
  tags_json TEXT NULL,
  top_match_json TEXT NULL,
  match_result_json MEDIUMTEXT NULL,
  face_detections_json MEDIUMTEXT NULL,
  body_detections_json MEDIUMTEXT NULL,
  attach_result_json TEXT NULL,
  KEY event_account (account_id, event_id),
  KEY event_account_create (account_id, create_time),
  KEY event_account_end (account_id, end_time),
  KEY event_account_insert (account_id, insert_time),
  KEY event_insert (insert_time),
  KEY event_create (create_time),
  KEY event_handler (account_id, handler_id),
  KEY event_source (account_id, source),
  KEY event_external (account_id, external_id),
  KEY event_user_data (account_id, user_data),
  KEY event_face (face_id),
  KEY event_track (account_id, track_id),
  KEY event_gender (account_id, gender),
  KEY event_age (account_id, age),
  KEY event_emotion (account_id, emotion),
  KEY event_ethnic (account_id, ethnic_group),
  KEY event_mask (account_id, mask),
  KEY event_liveness (account_id, liveness),
  KEY event_city (account_id, city),
  KEY event_area (account_id, area),
  KEY event_district (account_id, district),
  KEY event_street (account_id, street),
  KEY event_house (account_id, house_number),
  KEY event_geo (account_id, longitude, latitude),
  KEY event_top_object (top_similar_object_id),
  KEY event_top_external (account_id, top_similar_external_id),
  KEY event_top_similarity (account_id, top_similar_object_similarity)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS event_tag (
  event_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  tag VARCHAR(36) NOT NULL,
  PRIMARY KEY (event_id, tag),
  KEY event_tag_tag (tag, event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Per match_result label, the most similar candidate (top_matching_candidates_label
-- together with the top_similar_* filters).
CREATE TABLE IF NOT EXISTS event_match (
  event_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  label VARCHAR(36) NOT NULL,
  object_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  external_id VARCHAR(36) NULL,
  similarity DOUBLE NULL,
  PRIMARY KEY (event_id, label),
  KEY event_match_label (label, similarity),
  KEY event_match_object (object_id),
  KEY event_match_external (external_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
