//! Errors of the pages: the same `AppError`s as the API, shown as a Chinese page instead of a
//! JSON body. Not logged in (401) sends the browser to the login page; a refusal (403) says what
//! the account may not see and shows nothing of it; internal errors are logged and shown as a
//! generic message, never their cause.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;

use super::templates::render;
use crate::error::AppError;

#[derive(Debug)]
pub struct PageError(pub AppError);

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError(e)
    }
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> Self {
        PageError(e.into())
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        PageError(e.into())
    }
}

#[derive(Debug, Serialize)]
struct ErrorView {
    status: u16,
    heading: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status == StatusCode::UNAUTHORIZED {
            return Redirect::to("/login").into_response();
        }
        let (heading, message) = match &self.0 {
            AppError::Client { status, message, .. } => {
                let heading = match *status {
                    StatusCode::FORBIDDEN => "无权查看",
                    StatusCode::NOT_FOUND => "没有找到",
                    _ => "请求不对",
                };
                (heading, message.clone())
            }
            AppError::Throttled { .. } => ("请稍后再试", self.0.to_string()),
            AppError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                ("暂时无法访问", "服务器暂时无法访问数据库，请稍后再试".to_owned())
            }
            AppError::Internal(cause) => {
                tracing::error!(cause = %format!("{cause:#}"), "internal error on a page");
                ("出错了", "服务器内部错误，请稍后再试或联系管理员".to_owned())
            }
        };
        let view = ErrorView { status: status.as_u16(), heading, message };
        match render("error.html", heading, None, &view) {
            Ok(html) => (status, html).into_response(),
            Err(_) => (status, view.message).into_response(),
        }
    }
}
