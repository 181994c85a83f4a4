//! The repository's SQL, written once and instantiated for each backend.

/// Saves an engineer's changeable fields: `$1` the id, then name, group, tier, duty and
/// chat links.
pub(super) const UPDATE_ENGINEER: &str =
    "UPDATE engineers SET name = $2, group_id = $3, tier = $4, on_duty = $5,
     telegram_id = $6, discord_id = $7, web_id = $8 WHERE id = $1";

/// Starts a conversation where there is none: `$1` channel, `$2` external id, `$3` state,
/// `$4` time. No row changed means someone started one meanwhile.
pub(super) const START_CONVERSATION: &str =
    "INSERT INTO conversations (channel, external_id, state, updated_at, version)
     VALUES ($1, $2, $3, $4, 1)
     ON CONFLICT (channel, external_id) DO NOTHING";

/// Saves a conversation read at version `$5`: `$1` channel, `$2` external id, `$3` state,
/// `$4` time. No row changed means someone saved or ended it meanwhile.
pub(super) const UPDATE_CONVERSATION: &str =
    "UPDATE conversations SET state = $3, updated_at = $4, version = version + 1
     WHERE channel = $1 AND external_id = $2 AND version = $5";

/// Ends a conversation read at version `$3`: `$1` channel, `$2` external id.
pub(super) const END_CONVERSATION_AT: &str =
    "DELETE FROM conversations WHERE channel = $1 AND external_id = $2 AND version = $3";

/// Ends a conversation whatever its state: `$1` channel, `$2` external id.
pub(super) const END_CONVERSATION: &str =
    "DELETE FROM conversations WHERE channel = $1 AND external_id = $2";

/// The draft kept since `$3` (`$1` channel, `$2` external id), if any.
pub(super) const KEPT_DRAFT: &str = "SELECT state FROM conversation_drafts
     WHERE channel = $1 AND external_id = $2 AND discarded_at >= $3";

/// Takes a person's kept draft (`$1` channel, `$2` external id) as their conversation
/// restored from it is saved (see `Expect::Restoring`).
pub(super) const TAKE_DRAFT: &str =
    "DELETE FROM conversation_drafts WHERE channel = $1 AND external_id = $2";

/// The reporter behind a chat identity: `$1` channel, `$2` external id.
pub(super) const REPORTER_BY_IDENTITY: &str = "SELECT r.* FROM reporters r
     JOIN reporter_identities i ON i.reporter_id = r.id
     WHERE i.channel = $1 AND i.external_id = $2";

/// Inserts a reporter (`$1` name, `$2` language or null, `$3` now), returned.
macro_rules! insert_reporter {
    () => {
        "INSERT INTO reporters (name, vip, language, created_at, updated_at)
         VALUES ($1, FALSE, $2, $3, $3) RETURNING *"
    };
}
pub(super) use insert_reporter;

/// The name of the counter of a series' numbers in a year (`TicketNumber::new` puts the
/// counter's value after it).
pub(super) fn counter(series: &str, year: i32) -> String {
    format!("{series}-{year}")
}

/// Takes the next number of a series: `$1` the counter's name; returns `value`.
pub(super) const NEXT_NUMBER: &str = "INSERT INTO counters (name, value) VALUES ($1, 1)
     ON CONFLICT (name) DO UPDATE SET value = counters.value + 1
     RETURNING value";

/// The columns a new ticket is written with: `$1`–`$44` as `params::ticket` lists them
/// (`ticket_values!`), then its version.
macro_rules! ticket_columns {
    () => {
        "number, kind, status, priority, impact, urgency, reporter_id,
       reporter_name, department, phone, site, building, room, asset_tag, device_model, ip,
       category, description, started_at, people_affected, vip, photos, group_id, tier,
       assignee_id, offered_to, work_mode, arrived_at, pending_reason, cause, solution,
       closure, reopen_count, escalation_level, response_due_at, resolution_due_at,
       created_at, updated_at, accepted_at, resolved_at, closed_at, channel, received_at,
       next_due_at, version"
    };
}
pub(super) use ticket_columns;

/// The values of `ticket_columns!`: `$1`–`$44`, then version 1.
macro_rules! ticket_values {
    () => {
        "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
       $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33,
       $34, $35, $36, $37, $38, $39, $40, $41, $42, $43, $44, 1"
    };
}
pub(super) use ticket_values;

/// Inserts a ticket (version 1): `$1`–`$44` as `params::ticket` lists them.
pub(super) const INSERT_TICKET: &str = concat!(
    "INSERT INTO tickets (",
    ticket_columns!(),
    ") VALUES (",
    ticket_values!(),
    ") RETURNING *"
);

/// Remembers a reporter's department and phone: `$1` reporter, `$2` department, `$3`
/// phone, `$4` time.
pub(super) const REMEMBER_REPORTER: &str =
    "UPDATE reporters SET department = $2, phone = $3, updated_at = $4 WHERE id = $1";

/// A photo to fetch: `$1` ticket, `$2` its number on the ticket, `$3` door, `$4` the
/// door's reference, `$5` first try.
pub(super) const ADD_ATTACHMENT: &str =
    "INSERT INTO attachments (ticket_id, n, door, file_ref, next_try_at)
     VALUES ($1, $2, $3, $4, $5)";

/// Implements the repository methods on `$store` (which provides `begin()` and `reader()`)
/// for the sqlx database `$db`.
macro_rules! repository {
    ($store:ty, $db:ty, one_call_side_effects = $one_call:expr) => {
        impl $store {
            pub(super) async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }

            pub(super) async fn sync_groups(&self, groups: &[Group]) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                for g in groups {
                    sqlx::query(
                        "INSERT INTO groups (id, name, name_en) VALUES ($1, $2, $3)
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_en = excluded.name_en",
                    )
                    .bind(&g.id)
                    .bind(&g.name)
                    .bind(&g.name_en)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn create_engineer(
                &self,
                new: &NewEngineer,
                now: DateTime<Utc>,
            ) -> Result<Engineer, StoreError> {
                let mut tx = self.begin().await?;
                let row: rows::EngineerRow = sqlx::query_as(
                    "INSERT INTO engineers (handle, name, group_id, tier, on_duty, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                )
                .bind(&new.handle)
                .bind(&new.name)
                .bind(&new.group)
                .bind(new.tier.as_str())
                .bind(new.on_duty)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
                tx.commit().await?;
                row.try_into()
            }

            pub(super) async fn change_engineer(
                &self,
                e: &Engineer,
                wecom: Option<Option<&str>>,
                event: &crate::store::NewRegisterEvent,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query(sql::UPDATE_ENGINEER)
                .bind(e.id.0)
                .bind(&e.name)
                .bind(&e.group)
                .bind(e.tier.as_str())
                .bind(e.on_duty)
                .bind(&e.telegram_id)
                .bind(&e.discord_id)
                .bind(&e.web_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
                if let Some(user) = wecom {
                    // A UserID names one member: whoever had it before loses it.
                    sqlx::query(
                        "UPDATE engineers SET wecom_id = NULL WHERE wecom_id = $1 AND id <> $2",
                    )
                    .bind(user)
                    .bind(e.id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_write)?;
                    sqlx::query("UPDATE engineers SET wecom_id = $2 WHERE id = $1")
                        .bind(e.id.0)
                        .bind(user)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from_write)?;
                }
                Self::register_event_in(&mut *tx, event).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn engineer(&self, id: EngineerId) -> Result<Option<Engineer>, StoreError> {
                let row: Option<rows::EngineerRow> =
                    sqlx::query_as("SELECT * FROM engineers WHERE id = $1")
                        .bind(id.0)
                        .fetch_optional(self.reader())
                        .await?;
                row.map(TryInto::try_into).transpose()
            }

            pub(super) async fn engineer_by_handle(&self, handle: &str) -> Result<Option<Engineer>, StoreError> {
                let row: Option<rows::EngineerRow> =
                    sqlx::query_as("SELECT * FROM engineers WHERE handle = $1 AND deactivated_at IS NULL")
                        .bind(handle)
                        .fetch_optional(self.reader())
                        .await?;
                row.map(TryInto::try_into).transpose()
            }

            pub(super) async fn engineer_by_identity(
                &self,
                channel: &str,
                external_id: &str,
            ) -> Result<Option<Engineer>, StoreError> {
                let sql = match channel {
                    "telegram" => "SELECT * FROM engineers WHERE telegram_id = $1 AND deactivated_at IS NULL",
                    "discord" => "SELECT * FROM engineers WHERE discord_id = $1 AND deactivated_at IS NULL",
                    "wecom" => "SELECT * FROM engineers WHERE wecom_id = $1 AND deactivated_at IS NULL",
                    "web" => "SELECT * FROM engineers WHERE web_id = $1 AND deactivated_at IS NULL",
                    _ => return Ok(None),
                };
                let row: Option<rows::EngineerRow> = sqlx::query_as(sql)
                    .bind(external_id)
                    .fetch_optional(self.reader())
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            pub(super) async fn engineers(&self) -> Result<Vec<Engineer>, StoreError> {
                let rows: Vec<rows::EngineerRow> = sqlx::query_as("SELECT * FROM engineers WHERE deactivated_at IS NULL ORDER BY id")
                    .fetch_all(self.reader())
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            pub(super) async fn deactivate_engineer(
                &self,
                id: i64,
                event: &crate::store::NewRegisterEvent,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "UPDATE engineers SET deactivated_at = $2, on_duty = FALSE, telegram_id = NULL,
                       discord_id = NULL, web_id = NULL, wecom_id = NULL
                     WHERE id = $1 AND deactivated_at IS NULL",
                )
                .bind(id)
                .bind(event.at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !done {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM console_sessions WHERE engineer_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                Self::register_event_in(&mut *tx, event).await?;
                tx.commit().await?;
                Ok(true)
            }

            pub(super) async fn roster(&self) -> Result<Roster, StoreError> {
                // One round trip: every engineer with the number of open jobs they hold.
                let rows: Vec<rows::RosterRow> = sqlx::query_as(
                    "SELECT e.*, COALESCE(l.n, 0) AS open_jobs FROM engineers e
                     LEFT JOIN (SELECT assignee_id, COUNT(*) AS n FROM tickets
                                WHERE status IN ('accepted', 'in_progress', 'pending', 'reopened')
                                GROUP BY assignee_id) l ON l.assignee_id = e.id
                     WHERE e.deactivated_at IS NULL
                     ORDER BY e.id",
                )
                .fetch_all(self.reader())
                .await?;
                let mut roster = Roster::default();
                for r in rows {
                    let (engineer, load) = r.split()?;
                    roster.load.insert(engineer.id, load);
                    roster.engineers.push(engineer);
                }
                Ok(roster)
            }

            pub(super) async fn reporter_by_identity(
                &self,
                channel: &str,
                external_id: &str,
            ) -> Result<Option<Reporter>, StoreError> {
                let row: Option<rows::ReporterRow> = sqlx::query_as(sql::REPORTER_BY_IDENTITY)
                    .bind(channel)
                    .bind(external_id)
                    .fetch_optional(self.reader())
                    .await?;
                Ok(row.map(Into::into))
            }

            pub(super) async fn reporter(&self, id: ReporterId) -> Result<Option<Reporter>, StoreError> {
                let row: Option<rows::ReporterRow> = sqlx::query_as("SELECT * FROM reporters WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(self.reader())
                    .await?;
                Ok(row.map(Into::into))
            }

            pub(super) async fn reporters(&self, search: Option<&str>, limit: i64) -> Result<Vec<Reporter>, StoreError> {
                let pattern = search.map(str::trim).filter(|s| !s.is_empty()).map(crate::store::console::like_pattern);
                let rows: Vec<rows::ReporterRow> = sqlx::query_as(
                    "SELECT * FROM reporters r
                     WHERE NOT EXISTS (SELECT 1 FROM reporter_erasures x WHERE x.reporter_id = r.id)
                       AND ($1 IS NULL OR LOWER(r.name) LIKE $1 ESCAPE '\\'
                            OR LOWER(COALESCE(r.phone, '')) LIKE $1 ESCAPE '\\'
                            OR LOWER(COALESCE(r.department, '')) LIKE $1 ESCAPE '\\'
                            OR EXISTS (SELECT 1 FROM reporter_identities i WHERE i.reporter_id = r.id
                                       AND i.channel = 'phone' AND i.external_id LIKE $1 ESCAPE '\\'))
                     ORDER BY r.vip DESC, r.name, r.id LIMIT $2",
                )
                .bind(pattern)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            pub(super) async fn update_reporter(&self, r: &Reporter, now: DateTime<Utc>) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "UPDATE reporters SET name = $2, department = $3, phone = $4, vip = $5,
                     language = $6, updated_at = $7 WHERE id = $1",
                )
                .bind(r.id.0)
                .bind(&r.name)
                .bind(&r.department)
                .bind(&r.phone)
                .bind(r.vip)
                .bind(&r.language)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            /// Applies a versioned ticket change with its side effects on an open transaction;
            /// `Conflict` (and nothing written) if the version moved.
            pub(super) async fn update_ticket_in(
                tx: &mut <$db as sqlx::Database>::Connection,
                write: &TicketWrite,
            ) -> Result<Ticket, StoreError> {
                let t = &write.ticket;
                let row: Option<rows::TicketRow> = sqlx::query_as(
                    "UPDATE tickets SET status = $2, priority = $3, group_id = $4, tier = $5,
                       assignee_id = $6, offered_to = $7, work_mode = $8, arrived_at = $9,
                       pending_reason = $10, cause = $11, solution = $12, closure = $13,
                       reopen_count = $14, escalation_level = $15, response_due_at = $16,
                       resolution_due_at = $17, updated_at = $18, accepted_at = $19,
                       resolved_at = $20, closed_at = $21, loaner = $23, loaner_issued_at = $24,
                       loaner_returned_at = $25, remote_consent = $26, next_due_at = $27,
                       version = version + 1
                     WHERE id = $1 AND version = $22
                     RETURNING *",
                )
                .bind(t.id.0)
                .bind(t.status.as_str())
                .bind(t.priority.as_str())
                .bind(&t.group)
                .bind(t.tier.as_str())
                .bind(t.assignee.map(|e| e.0))
                .bind(t.offered_to.map(|e| e.0))
                .bind(t.work_mode.map(|m| m.as_str()))
                .bind(t.arrived_at)
                .bind(t.pending_reason.map(|p| p.as_str()))
                .bind(t.cause.as_ref().map(|n| n.as_str()))
                .bind(t.solution.as_ref().map(|n| n.as_str()))
                .bind(t.closure.map(|c| c.as_str()))
                .bind(t.reopen_count as i32)
                .bind(t.escalation_level as i32)
                .bind(t.response_due_at)
                .bind(t.resolution_due_at)
                .bind(t.updated_at)
                .bind(t.accepted_at)
                .bind(t.resolved_at)
                .bind(t.closed_at)
                .bind(t.version)
                .bind(t.loaner.as_ref().map(|n| n.as_str()))
                .bind(t.loaner_issued_at)
                .bind(t.loaner_returned_at)
                .bind(t.remote_consent.map(|c| c.as_str()))
                .bind(t.next_due_at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::Conflict);
                };
                let stored: Ticket = row.try_into()?;
                Self::write_side_effects(tx, stored.id, &write.audit, &write.outbox).await?;
                Self::write_clocks(tx, stored.id, &write.clocks).await?;
                if let Some(survey) = &write.survey {
                    Self::schedule_survey(tx, &stored, survey).await?;
                }
                if let Some(article) = &write.article {
                    Self::insert_article_in(tx, article).await?;
                }
                Ok(stored)
            }

            /// Inserts or updates clocks (and releases any scheduler lease on them).
            pub(super) async fn write_clocks(
                tx: &mut <$db as sqlx::Database>::Connection,
                ticket: TicketId,
                clocks: &[SlaClock],
            ) -> Result<(), StoreError> {
                if clocks.is_empty() {
                    return Ok(());
                }
                let sql = clocks_sql(clocks.len());
                let params = $crate::store::params::clocks(ticket, clocks);
                $crate::store::params::bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &params)
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            }

            pub(super) async fn write_side_effects(
                tx: &mut <$db as sqlx::Database>::Connection,
                ticket: TicketId,
                a: &NewAuditEvent,
                outbox: &[NewOutboxMessage],
            ) -> Result<(), StoreError> {
                // Audit event ($1–$9) and then the messages ($1, $2 and five per row from
                // $10): on SQLite one call runs both statements, saving a hand-off to the
                // driver's worker thread; PostgreSQL prepares one statement at a time.
                let (audit, messages) = side_effects_sql(outbox.len());
                let params = $crate::store::params::side_effects(ticket, a, outbox);
                let bind = $crate::store::params::bind;
                match messages {
                    None => {
                        bind(sqlx::query(audit), &params).execute(&mut *tx).await?;
                    }
                    Some(messages) if $one_call => {
                        let sql = format!("{audit};\n{messages}");
                        bind(sqlx::query(sqlx::AssertSqlSafe(sql)), &params)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Some(messages) => {
                        bind(sqlx::query(audit), &params[..AUDIT_PARAMS])
                            .execute(&mut *tx)
                            .await?;
                        // The same numbering: $3–$9 are bound but unused by this statement.
                        bind(sqlx::query(sqlx::AssertSqlSafe(messages)), &params)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                Ok(())
            }

            pub(super) async fn conversation(
                &self,
                channel: &str,
                external_id: &str,
            ) -> Result<Option<$crate::store::StoredConversation>, StoreError> {
                let row: Option<(String, DateTime<Utc>, i64)> = sqlx::query_as(
                    "SELECT state, updated_at, version FROM conversations
                     WHERE channel = $1 AND external_id = $2",
                )
                .bind(channel)
                .bind(external_id)
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(|(state, at, version)| $crate::store::StoredConversation { state, at, version }))
            }

            pub(super) async fn expire_conversations(
                &self,
                idle_since: DateTime<Utc>,
                drafts_since: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<Vec<(String, String, String)>, StoreError> {
                let mut tx = self.begin().await?;
                let idle: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT channel, external_id, state FROM conversations WHERE updated_at < $1
                     ORDER BY updated_at LIMIT 500",
                )
                .bind(idle_since)
                .fetch_all(&mut *tx)
                .await?;
                for (channel, external_id, state) in &idle {
                    sqlx::query(
                        "INSERT INTO conversation_drafts (channel, external_id, state, discarded_at)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (channel, external_id)
                         DO UPDATE SET state = excluded.state, discarded_at = excluded.discarded_at",
                    )
                    .bind(channel)
                    .bind(external_id)
                    .bind(state)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query($crate::store::sql::END_CONVERSATION)
                        .bind(channel)
                        .bind(external_id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM conversation_drafts WHERE discarded_at < $1")
                    .bind(drafts_since)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(idle)
            }

            pub(super) async fn reporter_identities(&self, id: ReporterId) -> Result<Vec<(String, String)>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT channel, external_id FROM reporter_identities WHERE reporter_id = $1
                     ORDER BY channel, external_id",
                )
                .bind(id.0)
                .fetch_all(self.reader())
                .await?)
            }

            pub(super) async fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
                let row: Option<rows::TicketRow> = sqlx::query_as("SELECT * FROM tickets WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(self.reader())
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            pub(super) async fn ticket_by_number(&self, number: &str) -> Result<Option<Ticket>, StoreError> {
                let row: Option<rows::TicketRow> = sqlx::query_as("SELECT * FROM tickets WHERE number = $1")
                    .bind(number)
                    .fetch_optional(self.reader())
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            pub(super) async fn list_tickets(
                &self,
                scope: &Scope,
                filter: &TicketFilter,
                limit: i64,
                offset: i64,
            ) -> Result<Page<Ticket>, StoreError> {
                // Every filter is optional: `$n IS NULL` switches it off, so the SQL is static.
                const WHERE: &str = " WHERE ($1 IS NULL OR status = $1)
                       AND ($2 IS NULL OR priority = $2)
                       AND ($3 IS NULL OR group_id = $3)
                       AND ($4 IS NULL OR category = $4)
                       AND ($5 IS NULL OR assignee_id = $5)
                       AND ($6 = FALSE OR status NOT IN ('closed', 'cancelled'))
                       AND ($7 IS NULL OR reporter_id = $7)
                       AND ($8 IS NULL OR group_id = $8 OR assignee_id = $9 OR offered_to = $9)";
                let (reporter, group, engineer) = match scope {
                    Scope::All => (None, None, None),
                    Scope::Reporter(r) => (Some(r.0), None, None),
                    Scope::Engineer { group, id } => (None, Some(group.as_str()), Some(id.0)),
                };
                macro_rules! bind_filters {
                    ($q:expr) => {
                        $q.bind(filter.status.map(|s| s.as_str()))
                            .bind(filter.priority.as_deref())
                            .bind(filter.group.as_deref())
                            .bind(filter.category.as_deref())
                            .bind(filter.assignee.map(|e| e.0))
                            .bind(filter.open_only)
                            .bind(reporter)
                            .bind(group)
                            .bind(engineer)
                    };
                }
                let count_sql = format!("SELECT COUNT(*) FROM tickets{WHERE}");
                let (total,): (i64,) = bind_filters!(sqlx::query_as(sqlx::AssertSqlSafe(count_sql)))
                    .fetch_one(self.reader())
                    .await?;
                let page_sql = format!("SELECT * FROM tickets{WHERE} ORDER BY id DESC LIMIT $10 OFFSET $11");
                let rows: Vec<rows::TicketRow> = bind_filters!(sqlx::query_as(sqlx::AssertSqlSafe(page_sql)))
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(self.reader())
                    .await?;
                Ok(Page {
                    items: rows.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?,
                    total,
                })
            }

            pub(super) async fn audit_trail(&self, ticket: TicketId) -> Result<Vec<AuditEvent>, StoreError> {
                let rows: Vec<rows::AuditRow> =
                    sqlx::query_as("SELECT * FROM audit_events WHERE ticket_id = $1 ORDER BY id")
                        .bind(ticket.0)
                        .fetch_all(self.reader())
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            pub(super) async fn outbox_for_ticket(&self, ticket: TicketId) -> Result<Vec<OutboxMessage>, StoreError> {
                let rows: Vec<rows::OutboxRow> =
                    sqlx::query_as("SELECT * FROM outbox WHERE ticket_id = $1 ORDER BY id")
                        .bind(ticket.0)
                        .fetch_all(self.reader())
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }
        }
    };
}

pub(super) use repository;

/// The read behind `reporter_with_conversation`, for a channel (shared with the direct
/// SQLite path, `direct.rs`). Whether the identity is also a linked engineer's comes in
/// the same read: this runs per message, and nearly everyone is only a reporter.
pub(super) fn reporter_with_conversation(channel: &str) -> &'static str {
    macro_rules! select {
        ($engineer:literal) => {
            concat!(
                "SELECT r.*, c.state AS conversation, c.updated_at AS conversation_at, \
                 c.version AS conversation_version, ",
                $engineer,
                " AS engineer \
                 FROM reporter_identities i JOIN reporters r ON r.id = i.reporter_id \
                 LEFT JOIN conversations c \
                   ON c.channel = i.channel AND c.external_id = i.external_id \
                 WHERE i.channel = $1 AND i.external_id = $2"
            )
        };
    }
    match channel {
        "telegram" => {
            select!("EXISTS (SELECT 1 FROM engineers e WHERE e.telegram_id = i.external_id)")
        }
        "discord" => {
            select!("EXISTS (SELECT 1 FROM engineers e WHERE e.discord_id = i.external_id)")
        }
        "web" => select!("EXISTS (SELECT 1 FROM engineers e WHERE e.web_id = i.external_id)"),
        "wecom" => {
            select!("EXISTS (SELECT 1 FROM engineers e WHERE e.wecom_id = i.external_id)")
        }
        // The terminal names engineers by handle: always ask.
        "console-engineer" => select!("TRUE"),
        _ => select!("FALSE"),
    }
}
