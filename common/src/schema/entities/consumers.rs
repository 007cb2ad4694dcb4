//! `consumers` (Kong `kong/db/schema/entities/consumers.lua`).

use crate::schema::field::Field;
use crate::schema::record::{EntityCheck, Schema};
use crate::schema::typedefs as t;

pub(crate) fn schema() -> Schema {
    Schema::new("consumers")
        .field("id", t::uuid())
        .field("created_at", t::auto_timestamp_s())
        .field("updated_at", t::auto_timestamp_s())
        .field("username", Field::string().unique())
        .field("custom_id", Field::string().unique())
        .field("tags", t::tags())
        .check(EntityCheck::at_least_one_of(&["custom_id", "username"]))
}
