"""The web UI: a private S3 bucket behind CloudFront (OAC), deployed with a generated config.js."""

import json
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from simplechat_infra.paths import ASSET_EXCLUDES, WEB_DIR


def content_security_policy(region: str) -> str:
    """Scripts and styles only from the site; calls only to API Gateway and Cognito."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' https://*.execute-api.{region}.amazonaws.com "
            f"https://cognito-idp.{region}.amazonaws.com",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


class WebSite(Construct):
    """`bucket`, `distribution` and `url`; `deploy_ui` uploads the files and config.js."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.log_bucket = self._private_bucket(
            "Logs",
            # CloudFront standard logs need ACLs on the log bucket.
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
        )
        self.bucket = self._private_bucket(
            "Site", server_access_logs_bucket=self.log_bucket, server_access_logs_prefix="s3/"
        )
        security = cloudfront.ResponseSecurityHeadersBehavior(
            content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                content_security_policy=content_security_policy(Stack.of(self).region),
                override=True,
            ),
            content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
            frame_options=cloudfront.ResponseHeadersFrameOptions(
                frame_option=cloudfront.HeadersFrameOption.DENY, override=True
            ),
            referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                override=True,
            ),
            strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                access_control_max_age=Duration.days(365), include_subdomains=True, override=True
            ),
        )
        headers = cloudfront.ResponseHeadersPolicy(
            self, "SecurityHeaders", security_headers_behavior=security
        )
        # A single-page app: unknown paths get the page, not S3's error.
        spa_errors = [
            cloudfront.ErrorResponse(
                http_status=status, response_http_status=200, response_page_path="/index.html"
            )
            for status in (403, 404)
        ]
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                response_headers_policy=headers,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
            ),
            error_responses=spa_errors,
            enable_logging=True,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/",
        )
        self.url = f"https://{self.distribution.distribution_domain_name}"

    def _private_bucket(self, construct_id: str, **options: Any) -> s3.Bucket:
        """No public access, encrypted, TLS only, and removed with the stack."""
        return s3.Bucket(
            self,
            construct_id,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=True,
            **options,
        )

    def deploy_ui(
        self,
        *,
        api_endpoint: str,
        user_pool_id: str,
        client_id: str,
        auth_settings: dict[str, Any],
    ) -> s3deploy.BucketDeployment:
        """The UI files plus a config.js naming this deployment's API and user pool.

        `auth_settings`: what the sign-in UI must know of the pool (UserAuth.ui_settings).
        """
        settings = {
            "apiEndpoint": api_endpoint,
            "language": "auto",
            "auth": {
                "type": "cognito",
                "region": Stack.of(self).region,
                "userPoolId": user_pool_id,
                "clientId": client_id,
                **auth_settings,
            },
        }
        config_js = f"window.SIMPLECHAT_CONFIG = {json.dumps(settings, indent=2)};\n"
        return s3deploy.BucketDeployment(
            self,
            "DeployUi",
            sources=[
                s3deploy.Source.asset(str(WEB_DIR), exclude=ASSET_EXCLUDES),
                s3deploy.Source.data("config.js", config_js),
            ],
            destination_bucket=self.bucket,
            distribution=self.distribution,
            distribution_paths=["/*"],
            prune=True,
        )
