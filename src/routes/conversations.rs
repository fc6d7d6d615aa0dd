//! Conversations and streaming chat. The index lives in D1; the messages and the reply in
//! flight live in the conversation's Durable Object.

use serde::Deserialize;
use worker::Response;

use crate::auth::guard::Principal;
use crate::conversation::client;
use crate::conversation::protocol::{Branch, SendCommand};
use crate::conversation::title::TitleCommand;
use crate::domain::attachment::{ImageAttachment, MAX_ATTACHMENTS, MAX_IMAGE_BYTES};
use crate::domain::settings::OrgSettings;
use crate::domain::ModelId;
use crate::error::{ApiError, ApiResult};
use crate::gateway;
use crate::http::{
    created, decode_cursor, encode_cursor, no_content, ok, page_limit, Ctx, Page, BODY_LIMIT,
};
use crate::store::{conversations, orgs, provider_keys};
use crate::util::new_id;
use crate::webhooks::EventType;

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_SYSTEM_PROMPT_CHARS: usize = 20_000;
pub const MAX_MESSAGE_CHARS: usize = 100_000;
/// A send's body: the usual 1 MiB, and room for the most images a message may carry, as
/// base64 (4 of 3 MiB: 16 MiB).
pub const SEND_BODY_LIMIT: usize = BODY_LIMIT + MAX_ATTACHMENTS * (MAX_IMAGE_BYTES / 3 * 4);
/// The reasoning a send may ask for.
pub const REASONING_EFFORTS: [&str; 3] = ["low", "medium", "high"];

fn title(raw: &str) -> ApiResult<String> {
    let t = raw.trim();
    if t.chars().count() > MAX_TITLE_CHARS || t.chars().any(char::is_control) {
        return Err(ApiError::validation(format!(
            "title must be at most {MAX_TITLE_CHARS} printable characters"
        )));
    }
    Ok(if t.is_empty() {
        "New conversation".into()
    } else {
        t.to_string()
    })
}

fn system_prompt(raw: &str) -> ApiResult<String> {
    if raw.chars().count() > MAX_SYSTEM_PROMPT_CHARS {
        return Err(ApiError::validation(format!(
            "system_prompt is longer than {MAX_SYSTEM_PROMPT_CHARS} characters"
        )));
    }
    Ok(raw.to_string())
}

/// The model of a conversation started without one: `demo/echo`, unless the org's enabled
/// models leave it out, then the first of those.
pub(crate) fn default_model(settings: &OrgSettings) -> ApiResult<ModelId> {
    let demo = ModelId::demo_echo();
    if settings.allows(&demo) {
        return Ok(demo);
    }
    settings
        .enabled_models
        .iter()
        .find_map(|m| ModelId::parse(m).ok())
        .ok_or_else(|| ApiError::validation("the organization enables no usable model"))
}

/// The caller's conversation and its org's settings (an API key sees only those of its org).
/// On the chat route (`guard::Check::InRoute`) the session's check is claimed as this is
/// called, before anything else can start it, and asked in the same query.
pub(crate) fn owned<'a>(
    ctx: &'a Ctx,
    who: &'a Principal,
) -> impl std::future::Future<Output = ApiResult<(conversations::ConversationRow, OrgSettings)>> + 'a
{
    let check = who.session_check();
    async move {
        let db = ctx.db()?;
        let session = check.as_ref().and_then(|c| c.session());
        let (conv, settings, live) =
            conversations::get_owned(&db, ctx.param(0), &who.user_id, session).await?;
        if let (Some(check), Some(live)) = (check, live) {
            check.settle(live);
        }
        crate::auth::sso::require(&db, who, &settings).await?;
        if who
            .api_key
            .as_ref()
            .is_some_and(|k| k.org_id != conv.org_id)
        {
            return Err(ApiError::NotFound);
        }
        orgs::require_2fa_of(&db, &settings, &who.user_id).await?;
        Ok((conv, settings))
    }
}

/// A conversation's model settings, as a create or a PATCH gives them: absent leaves one as
/// it is, `null` clears it (the provider's default).
struct SettingsIn {
    temperature: Option<Option<f64>>,
    max_tokens: Option<Option<u32>>,
    reasoning_effort: Option<Option<String>>,
}

impl SettingsIn {
    fn apply(self, conv: &mut conversations::ConversationRow) {
        if let Some(t) = self.temperature {
            conv.temperature = t;
        }
        if let Some(m) = self.max_tokens {
            conv.max_tokens = m.map(i64::from);
        }
        if let Some(e) = self.reasoning_effort {
            conv.reasoning_effort = e;
        }
    }
}

struct Settings<'a> {
    model: &'a str,
    temperature: Option<f64>,
    max_tokens: Option<i64>,
    reasoning_effort: Option<&'a str>,
}

/// Checks a conversation's settings in range, then as its model's provider takes them
/// (Anthropic's temperature is at most 1, and only 1 with reasoning; `param` names the field).
fn check_settings(conv: &conversations::ConversationRow) -> ApiResult<()> {
    check_model_settings(
        &conv.model,
        conv.temperature,
        conv.max_tokens,
        conv.reasoning_effort.as_deref(),
    )
}

/// `check_settings` of a model and its settings (a preset's too).
pub fn check_model_settings(
    model: &str,
    temperature: Option<f64>,
    max_tokens: Option<i64>,
    reasoning_effort: Option<&str>,
) -> ApiResult<()> {
    let conv = Settings {
        model,
        temperature,
        max_tokens,
        reasoning_effort,
    };
    if conv
        .temperature
        .is_some_and(|t| !t.is_finite() || !(0.0..=2.0).contains(&t))
    {
        return Err(ApiError::param(
            "temperature",
            "temperature must be from 0 to 2",
        ));
    }
    if conv.max_tokens.is_some_and(|m| !(1..=200_000).contains(&m)) {
        return Err(ApiError::param(
            "max_tokens",
            "max_tokens must be from 1 to 200000",
        ));
    }
    let effort = match conv.reasoning_effort {
        None => None,
        Some(e) if REASONING_EFFORTS.contains(&e) => crate::providers::Effort::parse(e),
        Some(_) => {
            return Err(ApiError::param(
                "reasoning_effort",
                "reasoning_effort is low, medium or high",
            ))
        }
    };
    let model = ModelId::parse(conv.model).map_err(|e| ApiError::param("model", e.to_string()))?;
    let probe = crate::providers::ChatRequest {
        model: model.model().to_string(),
        messages: vec![crate::providers::Message {
            role: crate::providers::Role::User,
            content: vec![crate::providers::Block::Text("-".into())],
        }],
        temperature: conv.temperature,
        max_tokens: conv.max_tokens.map(|m| m as u32),
        reasoning: effort.map(|e| crate::providers::ReasoningRequest {
            effort: Some(e),
            budget_tokens: None,
            include: true,
        }),
        stream: true,
        ..Default::default()
    };
    gateway::validate(model.provider(), &probe)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateConversation {
    org_id: Option<String>,
    title: Option<String>,
    model: Option<String>,
    system_prompt: Option<String>,
    #[serde(default, deserialize_with = "present")]
    temperature: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    max_tokens: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    reasoning_effort: Option<Option<String>>,
}

pub async fn create(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: CreateConversation = ctx
        .json_opt(BODY_LIMIT)
        .await?
        .unwrap_or(CreateConversation {
            org_id: None,
            title: None,
            model: None,
            system_prompt: None,
            temperature: None,
            max_tokens: None,
            reasoning_effort: None,
        });
    let org_id = gateway::acting_org(&ctx.db()?, &who, body.org_id.as_deref()).await?;
    ctx.timing.set_org(&org_id);
    let settings = orgs::settings(&ctx.db()?, &org_id).await?;
    orgs::require_2fa_of(&ctx.db()?, &settings, &who.user_id).await?;
    let model = match body.model.as_deref() {
        Some(m) => settings.permit(m).map_err(ApiError::Validation)?,
        None => default_model(&settings)?,
    };
    let mut row = conversations::ConversationRow {
        id: new_id("cnv"),
        user_id: who.user_id.clone(),
        org_id,
        title: title(body.title.as_deref().unwrap_or(""))?,
        // Named at creation, or to be named after the first reply.
        title_source: match body.title.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => conversations::TITLE_USER,
            _ => conversations::TITLE_DEFAULT,
        }
        .into(),
        model: model.as_str().to_string(),
        temperature: None,
        max_tokens: None,
        reasoning_effort: None,
        system_prompt: system_prompt(body.system_prompt.as_deref().unwrap_or(""))?,
        created_at: ctx.now,
        last_activity: ctx.now,
    };
    SettingsIn {
        temperature: body.temperature,
        max_tokens: body.max_tokens,
        reasoning_effort: body.reasoning_effort,
    }
    .apply(&mut row);
    check_settings(&row)?;
    conversations::insert(&ctx.db()?, &row).await?;
    created(&row.view())
}

pub async fn list(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let limit = page_limit(&ctx)?;
    let after = ctx
        .query_param("cursor")
        .map(|c| decode_cursor(&c))
        .transpose()?;
    // A named org must be one of the caller's (404 otherwise, as on every org route).
    let org = match (&who.api_key, ctx.query_param("org_id")) {
        (Some(k), named) => {
            Some(gateway::acting_org(&ctx.db()?, &who, named.as_deref().or(Some(&k.org_id))).await?)
        }
        (None, Some(named)) => Some(gateway::acting_org(&ctx.db()?, &who, Some(&named)).await?),
        (None, None) => None,
    };
    let rows = conversations::list(
        &ctx.db()?,
        &who.user_id,
        org.as_deref(),
        who.session_id.as_deref(),
        after,
        limit + 1,
    )
    .await?;
    let next_cursor = (rows.len() > limit)
        .then(|| {
            rows.get(limit - 1)
                .map(|r| encode_cursor(r.last_activity, &r.id))
        })
        .flatten();
    let items = rows.iter().take(limit).map(|r| r.view()).collect();
    ok(&Page { items, next_cursor })
}

pub async fn get(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    ok(&owned(&ctx, &who).await?.0.view())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateConversation {
    title: Option<String>,
    model: Option<String>,
    system_prompt: Option<String>,
    #[serde(default, deserialize_with = "present")]
    temperature: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    max_tokens: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    reasoning_effort: Option<Option<String>>,
}

pub async fn update(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: UpdateConversation = ctx.json(BODY_LIMIT).await?;
    let (mut conv, settings) = owned(&ctx, &who).await?;
    if let Some(t) = body.title {
        conv.title = title(&t)?;
        conv.title_source = conversations::TITLE_USER.into();
    }
    if let Some(m) = body.model {
        conv.model = settings
            .permit(&m)
            .map_err(ApiError::Validation)?
            .as_str()
            .to_string();
    }
    if let Some(p) = body.system_prompt {
        conv.system_prompt = system_prompt(&p)?;
    }
    // Checked whole, against the model it now has.
    SettingsIn {
        temperature: body.temperature,
        max_tokens: body.max_tokens,
        reasoning_effort: body.reasoning_effort,
    }
    .apply(&mut conv);
    check_settings(&conv)?;
    conversations::update(&ctx.db()?, &conv).await?;
    ok(&conv.view())
}

pub async fn delete(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let (conv, _) = owned(&ctx, &who).await?;
    client::wipe(&ctx.env, &conv.id).await?;
    crate::store::files::purge(&ctx.env, crate::store::files::Of::Conversation(&conv.id)).await?;
    conversations::delete(&ctx.db()?, &conv.id).await?;
    let deleted = serde_json::json!({"conversation_id": conv.id, "user_id": who.user_id});
    crate::webhooks::emit(&ctx, &conv.org_id, EventType::ConversationDeleted, deleted).await;
    no_content()
}

pub async fn messages(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let (conv, _) = owned(&ctx, &who).await?;
    let limit = page_limit(&ctx)?;
    let cursor = ctx.query_param("cursor");
    if let Some(c) = &cursor {
        decode_cursor(c)?;
    }
    client::messages(&ctx, &conv.id, limit, cursor.as_deref()).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendMessage {
    content: String,
    model: Option<String>,
    #[serde(default, deserialize_with = "crate::util::de_opt_integer")]
    max_tokens: Option<u32>,
    attachments: Option<Vec<AttachmentItem>>,
    reasoning_effort: Option<String>,
    /// Absent: under the current leaf; `null`: a new first message; an id: under that reply.
    #[serde(default, deserialize_with = "present")]
    parent_id: Option<Option<String>>,
}

/// A field that may be `null`: `Some(None)`, told apart from an absent one (`None`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// What a send or a regeneration asks of the conversation, before its model is settled.
struct Turn {
    content: String,
    model: Option<String>,
    max_tokens: Option<u32>,
    images: Vec<ImageAttachment>,
    /// Uploaded files (`POST /api/files`) sent with the message, with their index in
    /// `attachments` (to name the one refused).
    file_ids: Vec<(usize, String)>,
    reasoning_effort: Option<String>,
    branch: Branch,
}

/// An attachment: an uploaded file's id (`POST /api/files`), or an image inline.
#[derive(Deserialize)]
#[serde(untagged)]
enum AttachmentItem {
    File(String),
    Inline(AttachmentIn),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentIn {
    #[serde(rename = "type")]
    kind: String,
    media_type: String,
    data: String,
}

/// Uploaded files' ids, with their positions in `attachments`.
type FileIds = Vec<(usize, String)>;

/// The inline images of a send, each read from its bytes (`attachments[i].<field>` names a
/// refusal), and the uploaded files' ids.
fn attachments(raw: Option<Vec<AttachmentItem>>) -> ApiResult<(Vec<ImageAttachment>, FileIds)> {
    let raw = raw.unwrap_or_default();
    let (mut images, mut files) = (Vec::new(), Vec::new());
    for (i, item) in raw.into_iter().enumerate() {
        match item {
            AttachmentItem::File(id) => files.push((i, id)),
            AttachmentItem::Inline(a) => images.push(
                ImageAttachment::parse(&a.kind, &a.media_type, a.data).map_err(|e| {
                    let param = format!("attachments[{i}].{}", e.field);
                    ApiError::param(&param, format!("{param}: {}", e.message))
                })?,
            ),
        }
    }
    if images.len() > MAX_ATTACHMENTS {
        return Err(ApiError::param(
            "attachments",
            format!("a message may carry at most {MAX_ATTACHMENTS} images"),
        ));
    }
    if files.len() > crate::routes::files::MAX_FILES_PER_MESSAGE {
        return Err(ApiError::param(
            "attachments",
            format!(
                "a message may carry at most {} files",
                crate::routes::files::MAX_FILES_PER_MESSAGE
            ),
        ));
    }
    Ok((images, files))
}

pub async fn send(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: SendMessage = ctx.json(SEND_BODY_LIMIT).await?;
    let (images, file_ids) = attachments(body.attachments)?;
    let content = match body.content.trim().is_empty() {
        // A message may be attachments alone.
        true if !images.is_empty() || !file_ids.is_empty() => String::new(),
        true => return Err(ApiError::param("content", "content is required")),
        false => body.content,
    };
    if content.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::param(
            "content",
            format!("content is longer than {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    if body.max_tokens.is_some_and(|m| m == 0 || m > 200_000) {
        return Err(ApiError::param(
            "max_tokens",
            "max_tokens must be from 1 to 200000",
        ));
    }
    if let Some(effort) = body
        .reasoning_effort
        .as_deref()
        .filter(|e| !REASONING_EFFORTS.contains(e))
    {
        let shown: String = effort.chars().take(32).collect();
        return Err(ApiError::param(
            "reasoning_effort",
            format!("reasoning_effort is low, medium or high, not `{shown}`"),
        ));
    }
    let turn = Turn {
        content,
        model: body.model,
        max_tokens: body.max_tokens,
        images,
        file_ids,
        reasoning_effort: body.reasoning_effort,
        branch: match body.parent_id {
            None => Branch::Leaf,
            Some(parent) => Branch::Under(parent),
        },
    };
    answer(ctx, who, turn).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Regenerate {
    model: Option<String>,
}

/// A new reply beside an assistant reply, to the same user message (`Branch::Regenerate`).
pub async fn regenerate(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: Regenerate = ctx.json_opt(BODY_LIMIT).await?.unwrap_or_default();
    let turn = Turn {
        content: String::new(),
        model: body.model,
        max_tokens: None,
        images: Vec::new(),
        file_ids: Vec::new(),
        reasoning_effort: None,
        branch: Branch::Regenerate(ctx.param(1).to_string()),
    };
    answer(ctx, who, turn).await
}

/// Runs a turn: admits the call and hands it to the conversation's object, which streams.
async fn answer(ctx: Ctx, who: Principal, turn: Turn) -> ApiResult<Response> {
    // The conversation, its org's settings and the provider keys that may serve it: read at
    // once, before the model (and so the provider) is known, while the credential is looked
    // up (`auth::guard::check_of`: a session's in the same query as the conversation) and
    // the rate limit counted (the user's for an access token, the key's for an API key):
    // one storage wait before the conversation's object.
    let db = ctx.db()?;
    let key_rate = async {
        match &who.api_key {
            Some(key) => {
                let rpm = crate::limits::key_rpm(key.settings.rate_limit_rpm, ctx.cfg.api_key_rpm);
                crate::limits::client::admit_key(&ctx.env, &key.org_id, &key.key_id, rpm).await
            }
            None => Ok(()),
        }
    };
    let (live, owned, keys, admitted, key_rate) = futures::join!(
        who.confirmed(),
        owned(&ctx, &who),
        provider_keys::candidates_for_conversation(&db, &who.user_id, ctx.param(0)),
        gateway::admit_user(&ctx, &who),
        key_rate
    );
    live?;
    let ((conv, settings), keys, (), ()) = (owned?, keys?, admitted?, key_rate?);
    ctx.timing.mark("conversation");
    let model = settings
        .permit(turn.model.as_deref().unwrap_or(&conv.model))
        .map_err(|e| ApiError::param("model", e))?;
    let system: Vec<&str> = [
        settings.custom_instructions.as_str(),
        conv.system_prompt.as_str(),
    ]
    .into_iter()
    .filter(|s| !s.trim().is_empty())
    .collect();
    let files = crate::routes::files::attach(&ctx, &who, &conv, &settings, &turn.file_ids).await?;
    let provider_key = keys
        .resolve(
            &db,
            &ctx.cfg,
            &who.user_id,
            &conv.org_id,
            model.provider(),
            ctx.now,
        )
        .await?;
    ctx.timing.mark("key");
    let account = gateway::Account::new(&ctx.cfg, &who, &conv.org_id, &settings);
    let title = match conv.title_source == conversations::TITLE_DEFAULT {
        true => {
            title_call(
                &ctx,
                &who,
                &conv,
                &settings,
                &keys,
                &model,
                &provider_key,
                &account,
            )
            .await
        }
        false => None,
    };
    let cmd = SendCommand {
        conversation_id: conv.id.clone(),
        content: turn.content,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        history_char_budget: ctx.cfg.history_char_budget,
        // A send's own settings win over the conversation's.
        max_tokens: turn
            .max_tokens
            .or(conv.max_tokens.and_then(|m| u32::try_from(m).ok())),
        temperature: conv.temperature,
        attachments: turn.images,
        files,
        reasoning_effort: turn.reasoning_effort.or(conv.reasoning_effort.clone()),
        branch: turn.branch,
        title,
        // Validated, reserved and run by the conversation's object, which alone knows the
        // history it sends.
        call: gateway::Admitted::new(&ctx.cfg, model, account, provider_key),
    };
    // Newest activity first: bumped off the hot path (the reply's end bumps it again).
    let (touch_db, conv_id, now) = (db, conv.id.clone(), ctx.now);
    ctx.spawn(async move {
        if let Err(e) = conversations::touch(&touch_db, &conv_id, now).await {
            worker::console_error!(
                "{}",
                serde_json::json!({"error": "touch failed", "context": e.to_string()})
            );
        }
    });
    let sent = client::send(&ctx, &cmd).await;
    ctx.timing.mark("reply");
    sent
}

pub async fn stream(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let (conv, _) = owned(&ctx, &who).await?;
    let after = ctx.header("last-event-id");
    client::stream(&ctx, &conv.id, ctx.param(1), after.as_deref()).await
}

/// The bytes of an image sent with a message, with its media type.
pub async fn attachment(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let (conv, _) = owned(&ctx, &who).await?;
    let index: usize = ctx.param(2).parse().map_err(|_| ApiError::NotFound)?;
    client::attachment(&ctx, &conv.id, ctx.param(1), index).await
}

/// The call that names a conversation nobody has named, after its reply: the org's title
/// model if it set one (and it is still enabled), else the reply's own model; with the
/// reply's key when the provider is the same, else one resolved for the title model's
/// provider (none: no title, the conversation keeps its name).
#[allow(clippy::too_many_arguments)]
async fn title_call(
    ctx: &Ctx,
    who: &Principal,
    conv: &conversations::ConversationRow,
    settings: &OrgSettings,
    keys: &provider_keys::Candidates,
    model: &ModelId,
    provider_key: &Option<String>,
    account: &gateway::Account,
) -> Option<TitleCommand> {
    let title_model = settings
        .title_model
        .as_deref()
        .and_then(|m| settings.permit(m).ok())
        .unwrap_or_else(|| model.clone());
    let key = if title_model.provider() == model.provider() {
        provider_key.clone()
    } else {
        let db = ctx.db().ok()?;
        keys.resolve(
            &db,
            &ctx.cfg,
            &who.user_id,
            &conv.org_id,
            title_model.provider(),
            ctx.now,
        )
        .await
        .ok()?
    };
    Some(TitleCommand {
        call: gateway::Admitted::new(&ctx.cfg, title_model, account.clone(), key),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetLeaf {
    message_id: String,
}

/// Switches the current branch to the one through `message_id` (down to its newest end).
pub async fn set_leaf(mut ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let body: SetLeaf = ctx.json(BODY_LIMIT).await?;
    let (conv, _) = owned(&ctx, &who).await?;
    client::set_leaf(&ctx, &conv.id, &body.message_id).await
}

pub async fn abort(ctx: Ctx, who: Principal) -> ApiResult<Response> {
    let (conv, _) = owned(&ctx, &who).await?;
    client::abort(&ctx, &conv.id).await?;
    no_content()
}
