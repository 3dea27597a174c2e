# A role in the endpoint account for bedrock-link's discovery (discovery_role): exactly the
# three Describe calls a pass makes, assumable only by the given roles (the resolver's task
# role, in the app account), with the external ID when one is set.

locals {
  discovery_trusted = try(var.discovery_role.trusted_role_arns, [])
  # The accounts of the trusted roles: the principals. The roles themselves are matched by
  # ARN (patterns allowed), so that the trust needs no role that exists yet (the task role
  # is created after this module, from its output).
  discovery_trusted_accounts = distinct([for a in local.discovery_trusted : "arn:${split(":", a)[1]}:iam::${split(":", a)[4]}:root"])
}

resource "aws_iam_role" "discovery" {
  count    = var.discovery_role == null ? 0 : 1
  provider = aws.endpoint

  name_prefix = "${var.name}-discovery-"
  description = "bedrock-link discovery of ${var.name}'s endpoints, assumed from the app account"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "BedrockLinkResolver"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { AWS = local.discovery_trusted_accounts }
      Condition = merge(
        { ArnLike = { "aws:PrincipalArn" = local.discovery_trusted } },
        var.discovery_role.external_id == null ? {} : { StringEquals = { "sts:ExternalId" = var.discovery_role.external_id } },
      )
    }]
  })
  tags = local.tags
}

# EC2 Describe actions support no resource-level permissions.
resource "aws_iam_role_policy" "discovery" {
  count    = var.discovery_role == null ? 0 : 1
  provider = aws.endpoint

  name = "discovery"
  role = aws_iam_role.discovery[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid    = "BedrockLinkDiscovery"
      Effect = "Allow"
      Action = [
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeVpcEndpointServices",
        "ec2:DescribeNetworkInterfaces",
      ]
      Resource = "*"
    }]
  })
}
